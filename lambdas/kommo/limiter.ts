/**
 * Kommo allows 7 requests a second per integration; going over earns a 429 with `retry_after`, and carrying on
 * earns a 403 block for every request from the IP (kommo-server.md §8.1). So: a strict sliding-window throttle
 * (p-throttle) below the limit, and a pause that holds every request of this process while a 429's
 * retry_after runs, so we never send into a penalty.
 */
import pThrottle from 'p-throttle';

/** 6, not 7: requests sent a second apart can arrive closer together. */
export const DEFAULT_REQUESTS_PER_SECOND = 6;

export class KommoLimiter {
  private readonly slot: () => Promise<void>;
  private pausedUntil = 0;

  constructor(
    readonly requestsPerSecond = DEFAULT_REQUESTS_PER_SECOND,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.slot = pThrottle({ limit: requestsPerSecond, interval: 1000, strict: true })(async () => {});
  }

  /** Hold all requests until `untilMs` (a 429's retry_after); never shortens a pause in force. */
  pause(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
  }

  /** How long requests are still held, in ms. */
  pausedFor(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }

  /** Wait for a send slot outside any pause; a slot that falls inside a pause is given up and taken again after it. */
  async acquire(): Promise<void> {
    for (;;) {
      const wait = this.pausedFor();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await this.slot();
      if (this.pausedFor() === 0) return;
    }
  }
}
