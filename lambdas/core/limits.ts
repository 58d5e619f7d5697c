/**
 * What one user or one socket may take of a deployment that many accounts share. API Gateway's stage throttle
 * (500 messages/s, burst 1,000) and the Lambda account's concurrency are pooled across every account, so
 * without these one tenant's runaway page or script would make another tenant's pings and calls fail.
 * Each is far above what a widget does: one socket per user (one tab holds it), a ticket per (re)connect, a ping
 * every 4 minutes, a resume per connect plus retries and a resync every 10 minutes.
 */
export const TENANT_LIMITS = {
  /** Live sockets per user; a new one closes the oldest past this. */
  socketsPerUser: 10,
  /** Tickets per user per window (POST /tickets answers 429 past it). */
  ticketsPerWindow: 20,
  ticketWindowMs: 60_000,
  /** Messages per socket per window: past `messages` each gets an error; past `closeAfter` the socket is closed. */
  messagesPerWindow: 20,
  closeAfterMessages: 40,
  /** Resumes per socket per window: each reads the user's calls, so it has a budget of its own. */
  resumesPerWindow: 10,
  messageWindowMs: 60_000,
  /**
   * A burst budget per socket, kept by each container in memory and so free to check: `burstMessages` at once,
   * refilled at one a second. Past it a message is refused; past twice it the socket is closed. It stops a
   * flood in the time of a few messages, before the shared stage throttle runs dry.
   */
  burstMessages: 10,
  burstRefillPerSecond: 1,
} as const;

export type TenantLimits = { readonly [K in keyof typeof TENANT_LIMITS]: number };

/** The fixed window holding `nowMs`: its start (the counter's key) and the seconds until the next one. */
export const rateWindow = (nowMs: number, windowMs: number) => {
  const start = nowMs - (nowMs % windowMs);
  return { start, retryAfterSeconds: Math.max(1, Math.ceil((start + windowMs - nowMs) / 1000)) };
};

/** Which of a user's sockets to close so that at most `max` stay: the oldest, never the one just opened. */
export const socketsOverCap = <T extends { connectionId: string; connectedAt: number }>(
  sockets: readonly T[],
  newest: string,
  max: number,
): T[] =>
  sockets
    .filter((s) => s.connectionId !== newest)
    .sort((a, b) => b.connectedAt - a.connectedAt || b.connectionId.localeCompare(a.connectionId))
    .slice(Math.max(0, max - 1));

export interface MessageCounts {
  messages: number;
  resumes: number;
}

export interface LocalCounts extends MessageCounts {
  /** Burst tokens left after this message: below 0 it is over the burst budget, at -burst the socket goes. */
  tokens: number;
}

/**
 * What one container has itself seen of each socket: counts in the current window and a burst bucket. It can
 * only undercount (other containers see the rest), so when it alone is past a budget the shared count is too,
 * and the message is refused or the socket closed without a round trip: a flood is stopped in the time of a
 * few messages, not of the flood. Within budget the shared counter decides.
 */
export class LocalMessageCounts {
  private readonly counts = new Map<string, MessageCounts & { start: number; tokens: number; at: number }>();

  constructor(
    private readonly limits: Pick<TenantLimits, 'burstMessages' | 'burstRefillPerSecond'>,
    private readonly maxSockets = 10_000,
  ) {}

  hit(connectionId: string, windowStart: number, resume: boolean, nowMs: number): LocalCounts {
    let entry = this.counts.get(connectionId);
    if (!entry) {
      if (this.counts.size >= this.maxSockets) this.counts.clear();
      entry = { start: windowStart, messages: 0, resumes: 0, tokens: this.limits.burstMessages, at: nowMs };
      this.counts.set(connectionId, entry);
    }
    if (entry.start !== windowStart) Object.assign(entry, { start: windowStart, messages: 0, resumes: 0 });
    const refill = (Math.max(0, nowMs - entry.at) / 1000) * this.limits.burstRefillPerSecond;
    entry.tokens = Math.min(this.limits.burstMessages, entry.tokens + refill) - 1;
    entry.at = nowMs;
    entry.messages++;
    if (resume) entry.resumes++;
    return { messages: entry.messages, resumes: entry.resumes, tokens: entry.tokens };
  }
}
