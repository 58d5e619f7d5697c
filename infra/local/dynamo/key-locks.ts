/**
 * Per-key mutual exclusion inside the front. Every client write passes through the front, so holding a key
 * while reading its old image, writing, and reading its new image makes the before/after pair exact (the
 * pair decides write capacity and index writes), as DynamoDB's own item-level serialisation does.
 */
export class KeyLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` holding every key in `keys` (sorted, so two batches never wait on each other in a cycle). */
  async with<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const unique = [...new Set(keys)].sort();
    const releases: (() => void)[] = [];
    for (const key of unique) releases.push(await this.acquire(key));
    try {
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  private async acquire(key: string): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release: () => void = () => {};
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    return () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}
