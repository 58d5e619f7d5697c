/**
 * Exponential backoff with jitter, for both AMI reconnects and webhook retries: the delay doubles per failed
 * attempt up to a cap, and is drawn from its upper half so a PBX's worth of bridges does not retry in step
 * while the growth stays visible (attempt n waits at least base·2^(n-1)/2).
 */
export const backoffDelay = (
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
};

/** Timers behind a port, so tests can run minutes of retries in milliseconds. */
export interface Scheduler {
  now(): number;
  /** Run `fn` after `ms`; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  after(ms, fn) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
