/**
 * Virtual time for the bridge's timers (retries, reconnects, ring batches), so minutes of backoff run in
 * milliseconds. Real I/O (sockets, fsync, HTTP) still happens in real time: `advance` fires due timers in order
 * and lets the bridge's I/O settle between them.
 */
import type { Scheduler } from '../../bridge/asterisk/backoff';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualScheduler implements Scheduler {
  private timers: Timer[] = [];
  private seq = 0;

  constructor(private time: number) {}

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /**
   * Move time forward by `ms`, firing timers as their time comes; after each firing, `settle` is awaited (it
   * should wait for the I/O the timer started, e.g. until no delivery attempt is in flight).
   */
  async advance(ms: number, settle: () => Promise<void>): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = Math.max(this.time, next.at);
      next.fn();
      await settle();
    }
    this.time = target;
  }
}
