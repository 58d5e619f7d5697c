/**
 * The Kommo side wired from its stores: one limiter, one token service and one API client per container,
 * shared by every use-case. The Lambdas and the local stack both build it here.
 */
import { KommoClient } from '../kommo/client';
import type { FetchLike, RetryPolicy } from '../kommo/http';
import { KommoLimiter } from '../kommo/limiter';
import { httpTokenEndpoint } from '../kommo/token-endpoint';
import { TokenService } from '../kommo/tokens';
import type { KommoDeps } from './kommo-deps';
import { flagNeedsReauth } from './kommo-disable';

export interface KommoWiring extends Omit<KommoDeps, 'endpoint' | 'tokens' | 'client' | 'originFor'> {
  /** KOMMO_API_ORIGIN: every account's API and token endpoint at this origin (the emulator); else https://{host}. */
  apiOrigin?: string;
  fetch?: FetchLike;
  requestsPerSecond?: number;
  timeoutMs?: number;
  retry?: RetryPolicy;
  maxRetryAfterMs?: number;
  leaseMs?: number;
  pollMs?: number;
  waitMs?: number;
  /** A limiter shared with other functions of one process (the local stack); one of its own when absent. */
  limiter?: KommoLimiter;
}

export const originResolver =
  (apiOrigin: string | undefined) =>
  (baseDomain: string): string =>
    apiOrigin ? apiOrigin.replace(/\/+$/, '') : `https://${baseDomain}`;

export const kommoServices = (wiring: KommoWiring): KommoDeps => {
  const originFor = originResolver(wiring.apiOrigin);
  const now = () => wiring.clock.now();
  // One limiter for the token endpoint and the API: Kommo counts both against the same 7 per second.
  const limiter = wiring.limiter ?? new KommoLimiter(wiring.requestsPerSecond, now);
  const endpoint = httpTokenEndpoint({
    fetch: wiring.fetch,
    timeoutMs: wiring.timeoutMs,
    retry: wiring.retry,
    now,
    limiter,
    maxRetryAfterMs: wiring.maxRetryAfterMs,
  });
  const tokens = new TokenService({
    installations: wiring.installations,
    integration: wiring.integration,
    endpoint,
    originFor,
    onNeedsReauth: (installation, reason) => flagNeedsReauth(wiring, installation, reason),
    now,
    logger: wiring.logger,
    leaseMs: wiring.leaseMs,
    pollMs: wiring.pollMs,
    waitMs: wiring.waitMs,
  });
  const client = new KommoClient({
    tokens,
    limiter,
    originFor,
    logger: wiring.logger,
    fetch: wiring.fetch,
    timeoutMs: wiring.timeoutMs,
    retry: wiring.retry,
    maxRetryAfterMs: wiring.maxRetryAfterMs,
    now,
  });
  return { ...wiring, endpoint, tokens, client, originFor };
};
