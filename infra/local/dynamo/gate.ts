/**
 * Transactions are isolated on DynamoDB: no read sees one half applied. The front applies a transaction item
 * by item and undoes it on failure, so while one runs it holds this gate exclusively and every other request
 * waits; ordinary requests share the gate and never wait on each other.
 */
export class Gate {
  private shared = 0;
  private exclusive: Promise<void> | undefined;
  private readonly drained: (() => void)[] = [];

  async enter<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
      if (this.shared === 0) for (const wake of this.drained.splice(0)) wake();
    }
  }

  async alone<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let open: () => void = () => {};
    this.exclusive = new Promise<void>((resolve) => {
      open = resolve;
    });
    try {
      if (this.shared > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
      return await fn();
    } finally {
      this.exclusive = undefined;
      open();
    }
  }
}
