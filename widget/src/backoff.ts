/**
 * Capped exponential backoff with full jitter (AWS Architecture Blog, "Exponential backoff and jitter"):
 * `random(0, min(cap, base · 2^attempt))`. Full jitter spreads the reconnects of a whole sales floor after a
 * deploy or the 2-hour cut-off, instead of having them all arrive in the same second.
 */
export const nextDelayMs = (attempt: number, random: () => number, baseMs: number, capMs: number): number =>
  Math.floor(random() * Math.min(capMs, baseMs * 2 ** Math.max(0, attempt)));
