/**
 * One HTTP exchange with Kommo and what its failures mean. Shared by the token endpoint and the API client,
 * so both turn timeouts, network errors and problem+json bodies into the same typed KommoError.
 */
import pRetry from 'p-retry';
import { KommoError, type KommoErrorCode, type KommoValidationError } from './errors';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** Send once, bounded by `timeoutMs` (headers and body): a hung Kommo never holds a Lambda to its timeout. */
export const sendOnce = async (
  fetchFn: FetchLike,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<RawResponse> => {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await fetchFn(url, { ...init, signal });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text };
  } catch (error) {
    if (
      signal.aborted ||
      (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
    ) {
      throw new KommoError('timeout', `no answer from Kommo within ${timeoutMs} ms`, {}, { cause: error });
    }
    throw new KommoError('network', 'Kommo could not be reached', {}, { cause: error });
  }
};

const parseBody = (text: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

/** Seconds to wait from a 429: the body's `retry_after`, else a Retry-After header, else 1 s. */
export const retryAfterSeconds = (res: RawResponse): number => {
  const fromBody = parseBody(res.text)?.retry_after;
  if (typeof fromBody === 'number' && Number.isFinite(fromBody) && fromBody >= 0) return fromBody;
  const header = Number(res.headers.get('retry-after'));
  return Number.isFinite(header) && header >= 0 ? header : 1;
};

const codeFor = (status: number, hint: string): KommoErrorCode => {
  if (status === 401) return /revoked|expired|invalid/i.test(hint) ? 'revoked' : 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 402) return 'payment_required';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server_error';
  return 'invalid_request';
};

/** A non-2xx answer as a KommoError; only titles and codes are kept, never the request's data. */
export const errorFromResponse = (res: RawResponse, context: string): KommoError => {
  const body = parseBody(res.text) ?? {};
  const title = typeof body.title === 'string' ? body.title : undefined;
  const hint = [body.hint, body.detail, title].filter((s) => typeof s === 'string').join(' ');
  const validation = Array.isArray(body['validation-errors'])
    ? (body['validation-errors'] as KommoValidationError[])
    : undefined;
  const code = codeFor(res.status, hint);
  const entityErrors = Array.isArray(body.errors)
    ? (body.errors as Record<string, unknown>[]).map((e) => ({
        ...(typeof e?.request_id === 'string' ? { request_id: e.request_id } : {}),
        ...(typeof e?.title === 'string' ? { title: e.title } : {}),
      }))
    : undefined;
  return new KommoError(code, `${context}: Kommo answered ${res.status}${title ? ` (${title})` : ''}`, {
    status: res.status,
    title,
    ...(code === 'rate_limited' ? { retryAfterSeconds: retryAfterSeconds(res) } : {}),
    ...(validation ? { validation } : {}),
    ...(entityErrors ? { entityErrors } : {}),
  });
};

export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, minDelayMs: 250, maxDelayMs: 4000 };

/**
 * Retry transient failures (5xx, timeouts, network) with exponential backoff and jitter (p-retry's
 * `randomize`: each delay times a random 1-2, so callers that failed together do not retry together);
 * everything else fails at once. A 429's retry_after is honoured by the limiter, which holds the next attempt.
 */
export const withRetries = <T>(
  attempt: (attemptNumber: number) => Promise<T>,
  policy: RetryPolicy,
  retryable: (error: KommoError) => boolean = (error) => error.retryable,
): Promise<T> =>
  pRetry(attempt, {
    retries: policy.retries,
    minTimeout: policy.minDelayMs,
    maxTimeout: policy.maxDelayMs,
    factor: 2,
    randomize: true,
    shouldRetry: ({ error }) => error instanceof KommoError && retryable(error),
  });
