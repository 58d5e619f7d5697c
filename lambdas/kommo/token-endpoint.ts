/**
 * Kommo's token endpoint, `POST https://{subdomain}.kommo.com/oauth2/access_token` (kommo-server.md §1.4):
 * exchanges an authorization code or a refresh token for a new pair.
 */
import * as v from 'valibot';
import { KommoError } from './errors';
import {
  DEFAULT_RETRY,
  errorFromResponse,
  type FetchLike,
  type RetryPolicy,
  retryAfterSeconds,
  sendOnce,
  withRetries,
} from './http';
import type { KommoLimiter } from './limiter';
import type { Integration } from './ports';
import { type TokenSet, tokenSetFrom } from './tokens-policy';

const TokenResponse = v.object({
  token_type: v.optional(v.string()),
  expires_in: v.pipe(v.number(), v.integer(), v.minValue(1)),
  access_token: v.pipe(v.string(), v.minLength(1)),
  refresh_token: v.pipe(v.string(), v.minLength(1)),
});

export type Grant = { kind: 'code'; code: string } | { kind: 'refresh'; refreshToken: string };

export interface TokenEndpoint {
  /** @throws KommoError `revoked` when Kommo refuses the code or refresh token */
  grant(origin: string, integration: Integration, grant: Grant): Promise<TokenSet>;
}

export interface HttpTokenEndpointOptions {
  fetch?: FetchLike;
  timeoutMs?: number;
  retry?: RetryPolicy;
  now?: () => number;
  /** The API client's limiter: Kommo counts token requests against the same 7 per second. */
  limiter?: KommoLimiter;
  /** A 429 asking to wait longer than this fails the grant instead of waiting. */
  maxRetryAfterMs?: number;
}

/**
 * Retrying a refresh with the same refresh token after a lost answer is what Kommo's grace is for: the old
 * token works until the new one is used. A code, once exchanged, is not retried by Kommo's rules either
 * (a second exchange answers `revoked`), so a lost code exchange ends as "install again".
 */
export const httpTokenEndpoint = (options: HttpTokenEndpointOptions = {}): TokenEndpoint => {
  const fetchFn = options.fetch ?? ((url, init) => fetch(url, init));
  const now = options.now ?? Date.now;
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
  const limiter = options.limiter;
  return {
    grant: (origin, integration, grant) =>
      withRetries(
        async () => {
          if (limiter && limiter.pausedFor() > maxRetryAfterMs) {
            throw new KommoError('rate_limited', 'Kommo asked to pause; not sending', {
              retryAfterSeconds: Math.ceil(limiter.pausedFor() / 1000),
            });
          }
          let requestedAt = now();
          const body = {
            client_id: integration.clientId,
            client_secret: integration.clientSecret,
            redirect_uri: integration.redirectUri,
            ...(grant.kind === 'code'
              ? { grant_type: 'authorization_code', code: grant.code }
              : { grant_type: 'refresh_token', refresh_token: grant.refreshToken }),
          };
          const send = () => {
            requestedAt = now();
            return sendOnce(
              fetchFn,
              `${origin}/oauth2/access_token`,
              {
                method: 'POST',
                headers: { 'content-type': 'application/json', accept: 'application/json' },
                body: JSON.stringify(body),
              },
              options.timeoutMs ?? 8000,
            );
          };
          const res = limiter ? await limiter.run(send) : await send();
          if (res.status === 429) limiter?.pause(now() + retryAfterSeconds(res) * 1000);
          if (res.status < 200 || res.status >= 300) {
            const error = errorFromResponse(res, `token ${grant.kind}`);
            // A refused code or refresh token (400 or 401) means only a new consent helps.
            if (res.status === 400 || res.status === 401) {
              throw new KommoError('revoked', error.message, error.details);
            }
            throw error;
          }
          let parsed: v.InferOutput<typeof TokenResponse>;
          try {
            parsed = v.parse(TokenResponse, JSON.parse(res.text));
          } catch {
            throw new KommoError(
              'bad_response',
              'the token endpoint answered without access_token/refresh_token/expires_in',
            );
          }
          return tokenSetFrom(parsed, requestedAt);
        },
        options.retry ?? DEFAULT_RETRY,
        (error) =>
          error.retryable ||
          (error.code === 'rate_limited' && (limiter?.pausedFor() ?? 0) <= maxRetryAfterMs),
      ),
  };
};
