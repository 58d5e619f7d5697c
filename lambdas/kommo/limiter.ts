/**
 * Kommo allows 7 requests a second per integration; going over earns a 429 with `retry_after`, and carrying on
 * earns a 403 block for every request from the IP (kommo-server.md §8.1). So, per container:
 * - a strict sliding-window throttle (p-throttle) below the limit;
 * - one request in flight at a time (p-limit): when a 429 comes back, no other request is already on the
 *   wire to arrive during the penalty and count as repeated excess. A Lambda container serves one event at
 *   a time anyway, so this costs a handler's own fan-out only;
 * - a pause that holds every request while a 429's retry_after runs.
 */
import pLimit from 'p-limit';
import pThrottle from 'p-throttle';

/** 6, not 7: requests sent a second apart can arrive closer together. */
export const DEFAULT_REQUESTS_PER_SECOND = 6;

export class KommoLimiter {
  private readonly slot: () => Promise<void>;
  private readonly gate: ReturnType<typeof pLimit>;
  private pausedUntil = 0;

  constructor(
    readonly requestsPerSecond = DEFAULT_REQUESTS_PER_SECOND,
    private readonly now: () => number = () => Date.now(),
    concurrency = 1,
  ) {
    this.slot = pThrottle({ limit: requestsPerSecond, interval: 1000, strict: true })(async () => {});
    this.gate = pLimit(concurrency);
  }

  /** Hold all requests until `untilMs` (a 429's retry_after); never shortens a pause in force. */
  pause(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
  }

  /** How long requests are still held, in ms. */
  pausedFor(): number {
    return Math.max(0, this.pausedUntil - this.now());
  }

  /** Send one request when the window, the pause and the in-flight gate allow it. */
  run<T>(send: () => Promise<T>): Promise<T> {
    return this.gate(async () => {
      for (;;) {
        const wait = this.pausedFor();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        await this.slot();
        // A slot that fell inside a pause set meanwhile is given up and taken again after it.
        if (this.pausedFor() === 0) break;
      }
      return send();
    });
  }
}
