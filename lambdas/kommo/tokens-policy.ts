/**
 * Kommo OAuth token rules (kommo-server.md §1.5): a code lives 20 minutes, an access token 24 hours, a
 * refresh token 3 months, and every refresh hands out a new refresh token. Pure: no clock, no I/O.
 */
export const CODE_LIFETIME_MS = 20 * 60_000;
export const ACCESS_LIFETIME_MS = 24 * 3600_000;
/** "3 months": counted as 90 days, the shortest reading. */
export const REFRESH_LIFETIME_MS = 90 * 86_400_000;
/** A token used by a request must outlive the request and its retries. */
export const USE_MARGIN_MS = 5 * 60_000;
/**
 * The scheduled refresher runs hourly; refreshing anything that expires within 3 hours keeps the request
 * path from ever refreshing synchronously, even when one run fails.
 */
export const SCHEDULED_MARGIN_MS = 3 * 3600_000;
/**
 * An idle account is refreshed at least every 30 days, long before its refresh token's 90 days run out.
 * (With the 3-hour margin above every account is in practice refreshed daily; this is the floor if access
 * tokens were ever long-lived, e.g. Kommo changing `expires_in`.)
 */
export const IDLE_REFRESH_MS = 30 * 86_400_000;
/**
 * One refresher at a time per account: a lease longer than one token call with its retries (4 attempts of
 * at most 8 s plus backoff, about 34 s). A holder that overruns it is handled: its late result is not stored.
 */
export const REFRESH_LEASE_MS = 45_000;

export interface TokenSet {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms the access token expires. */
  expiresAt: number;
  /** Epoch ms the refresh token was issued: it dies 90 days later if unused. */
  refreshIssuedAt: number;
  /**
   * A private integration's long-lived token (kommo-server.md §1.8): no refresh token, lives 1 day to 5
   * years, never refreshed; when it expires the admin issues a new one.
   */
  longLived?: boolean;
}

/** The token endpoint's answer in our terms; `expires_in` counts from when we sent the request. */
export const tokenSetFrom = (
  response: { access_token: string; refresh_token: string; expires_in: number },
  requestedAtMs: number,
): TokenSet => ({
  accessToken: response.access_token,
  refreshToken: response.refresh_token,
  expiresAt: requestedAtMs + response.expires_in * 1000,
  refreshIssuedAt: requestedAtMs,
});

export type RefreshNeed = 'none' | 'expiring' | 'idle' | 'dead';

/** Whether a request about to use these tokens must refresh first. */
export const refreshNeededForUse = (tokens: TokenSet, nowMs: number): RefreshNeed => {
  if (tokens.longLived) return tokens.expiresAt <= nowMs ? 'dead' : 'none';
  if (refreshTokenDead(tokens, nowMs)) return 'dead';
  return tokens.expiresAt - nowMs <= USE_MARGIN_MS ? 'expiring' : 'none';
};

/** Whether the scheduled refresher should refresh now. */
export const refreshNeededOnSchedule = (tokens: TokenSet, nowMs: number): RefreshNeed => {
  if (tokens.longLived) return tokens.expiresAt <= nowMs ? 'dead' : 'none';
  if (refreshTokenDead(tokens, nowMs)) return 'dead';
  if (tokens.expiresAt - nowMs <= SCHEDULED_MARGIN_MS) return 'expiring';
  if (nowMs - tokens.refreshIssuedAt >= IDLE_REFRESH_MS) return 'idle';
  return 'none';
};

export const refreshTokenDead = (tokens: TokenSet, nowMs: number): boolean =>
  nowMs - tokens.refreshIssuedAt >= REFRESH_LIFETIME_MS;

export const codeExpired = (receivedAtMs: number, nowMs: number): boolean =>
  nowMs - receivedAtMs >= CODE_LIFETIME_MS;
