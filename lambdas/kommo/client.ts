/**
 * The one way Callbridge talks to Kommo's REST API: per-account origin and bearer token, one refresh on a
 * 401, the integration-wide limiter, retries with backoff and jitter on 429/5xx/timeouts, and typed errors.
 * Requests are logged by method, path (never the query: it can hold a phone number), status and time.
 */
import type { Logger } from '../ports';
import { KommoError, kommoErrorCode } from './errors';
import {
  DEFAULT_RETRY,
  errorFromResponse,
  type FetchLike,
  type RawResponse,
  type RetryPolicy,
  retryAfterSeconds,
  sendOnce,
  withRetries,
} from './http';
import type { KommoLimiter } from './limiter';
import type { AccessToken } from './tokens';

export interface AccessTokens {
  accessToken(accountId: number, rejected?: string): Promise<AccessToken>;
  rejected(accountId: number): Promise<void>;
}

export interface KommoClientOptions {
  tokens: AccessTokens;
  limiter: KommoLimiter;
  originFor: (baseDomain: string) => string;
  logger: Logger;
  fetch?: FetchLike;
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** A 429 asking to wait longer than this fails the request (rate_limited) instead of holding it. */
  maxRetryAfterMs?: number;
  now?: () => number;
}

export interface KommoRequest {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** X-Context-User-ID: act with this Kommo user's rights (kommo-server.md §7.3). */
  contextUserId?: number;
  /**
   * Whether a 5xx or a timeout may be retried. Defaults to GET only: Kommo does not deduplicate calls
   * (kommo-server.md §2.3), so a POST whose answer was lost may have been applied; its caller decides.
   * A 429 is always retried: Kommo refused it unprocessed.
   */
  idempotent?: boolean;
}

export interface KommoResponse<T> {
  status: number;
  /** Undefined on 202/204 with no body. */
  body: T | undefined;
}

export class KommoClient {
  private readonly fetchFn: FetchLike;
  private readonly now: () => number;

  constructor(private readonly options: KommoClientOptions) {
    this.fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
    this.now = options.now ?? Date.now;
  }

  get<T>(accountId: number, path: string, request: KommoRequest = {}) {
    return this.request<T>(accountId, 'GET', path, request);
  }

  post<T>(accountId: number, path: string, body: unknown, request: KommoRequest = {}) {
    return this.request<T>(accountId, 'POST', path, { ...request, body });
  }

  /** @throws KommoError */
  async request<T>(
    accountId: number,
    method: string,
    path: string,
    request: KommoRequest = {},
  ): Promise<KommoResponse<T>> {
    let token = await this.options.tokens.accessToken(accountId);
    let refreshed = false;
    for (;;) {
      const res = await this.send(accountId, method, path, request, token);
      if (res.status === 401 && !refreshed) {
        // One refresh per request: a token refused twice is a revoked installation, not a stale token.
        refreshed = true;
        token = await this.options.tokens.accessToken(accountId, token.accessToken);
        continue;
      }
      if (res.status === 401) {
        await this.options.tokens.rejected(accountId);
        throw errorFromResponse(res, `${method} ${path}`);
      }
      if (res.status < 200 || res.status >= 300) throw errorFromResponse(res, `${method} ${path}`);
      if (res.status === 204 || res.text === '') return { status: res.status, body: undefined };
      try {
        return { status: res.status, body: JSON.parse(res.text) as T };
      } catch {
        throw new KommoError(
          'bad_response',
          `${method} ${path}: Kommo answered ${res.status} with a body that is not JSON`,
        );
      }
    }
  }

  /** A request with a token in hand, before the installation is stored (the install's own account lookup). */
  async requestAs<T>(
    token: AccessToken,
    method: string,
    path: string,
    request: KommoRequest = {},
  ): Promise<T | undefined> {
    const res = await this.send(0, method, path, request, token);
    if (res.status < 200 || res.status >= 300) throw errorFromResponse(res, `${method} ${path}`);
    if (res.status === 204 || res.text === '') return undefined;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      throw new KommoError('bad_response', `${method} ${path}: Kommo answered with a body that is not JSON`);
    }
  }

  /** One logical request: limiter, retries on 429/5xx/timeouts; a 401 is returned for the caller to handle. */
  private send(
    accountId: number,
    method: string,
    path: string,
    request: KommoRequest,
    token: AccessToken,
  ): Promise<RawResponse> {
    const { limiter, logger } = this.options;
    const maxRetryAfterMs = this.options.maxRetryAfterMs ?? 10_000;
    const url = new URL(`${this.options.originFor(token.baseDomain)}${path}`);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${token.accessToken}`,
      accept: 'application/json',
      ...(request.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(request.contextUserId ? { 'x-context-user-id': String(request.contextUserId) } : {}),
    };
    return withRetries(
      async (attempt) => {
        if (limiter.pausedFor() > maxRetryAfterMs) {
          throw new KommoError('rate_limited', `${method} ${path}: Kommo asked to pause; not sending`, {
            retryAfterSeconds: Math.ceil(limiter.pausedFor() / 1000),
          });
        }
        let started = this.now();
        let res: RawResponse;
        try {
          res = await limiter.run(() => {
            started = this.now();
            return sendOnce(
              this.fetchFn,
              url.toString(),
              {
                method,
                headers,
                ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
              },
              this.options.timeoutMs ?? 8000,
            );
          });
        } catch (error) {
          logger.warn('kommo request failed', {
            accountId,
            method,
            path,
            attempt,
            code: kommoErrorCode(error),
            ms: this.now() - started,
          });
          throw error;
        }
        logger.info('kommo request', {
          accountId,
          method,
          path,
          status: res.status,
          attempt,
          ms: this.now() - started,
        });
        if (res.status === 429) {
          const waitMs = retryAfterSeconds(res) * 1000;
          limiter.pause(this.now() + waitMs);
          const error = errorFromResponse(res, `${method} ${path}`);
          if (waitMs > maxRetryAfterMs) throw new KommoError('rate_limited', error.message, error.details);
          throw error;
        }
        if (res.status >= 500) throw errorFromResponse(res, `${method} ${path}`);
        return res;
      },
      this.options.retry ?? DEFAULT_RETRY,
      // A 429 is retried once its pause is over (the limiter holds the next attempt); longer pauses fail.
      (error) =>
        ((request.idempotent ?? method === 'GET') && error.retryable) ||
        (error.code === 'rate_limited' && limiter.pausedFor() <= maxRetryAfterMs),
    );
  }
}
