/**
 * One delivery attempt: sign the stored body per Standard Webhooks (a fresh timestamp each attempt, the same
 * webhook-id every time) and POST it to Callbridge. The answer is sorted into delivered / retry later / refused
 * for good; only the status and Callbridge's problem code are kept, never the body (it holds phone numbers).
 */
import { signWebhook } from '../../lambdas/core/webhook-signature';
import type { OutboxEntry } from './outbox';

export type SendResult =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; reason: string; retryAfterMs?: number }
  | { kind: 'rejected'; status: number; detail: string };

export type Send = (entry: OutboxEntry) => Promise<SendResult>;

/** 4xx answers that mean "not now" rather than "never": timeout, claim busy, too early, rate limited. */
const RETRYABLE_4XX = new Set([408, 409, 425, 429]);

export const makeSender = (options: {
  url: string;
  secret: string;
  timeoutMs: number;
  nowSeconds?: () => number;
  fetch?: typeof fetch;
}): Send => {
  const doFetch = options.fetch ?? fetch;
  const nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  return async (entry) => {
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'callbridge-asterisk-bridge/1',
      ...signWebhook(options.secret, entry.id, nowSeconds(), entry.body),
    };
    let response: Response;
    try {
      response = await doFetch(options.url, {
        method: 'POST',
        headers,
        body: entry.body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (error) {
      const reason =
        error instanceof Error
          ? error.cause instanceof Error
            ? error.cause.message
            : error.message
          : String(error);
      return { kind: 'retry', reason: `network: ${reason}` };
    }
    const text = await response.text().catch(() => '');
    if (response.status >= 200 && response.status < 300)
      return { kind: 'delivered', status: response.status };
    const code = problemCode(text);
    if (response.status >= 500 || RETRYABLE_4XX.has(response.status)) {
      const retryAfter = Number(response.headers.get('retry-after'));
      return {
        kind: 'retry',
        reason: `HTTP ${response.status}${code ? ` ${code}` : ''}`,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      };
    }
    return {
      kind: 'rejected',
      status: response.status,
      detail: code ? `${code}: ${problemDetail(text)}` : `HTTP ${response.status}`,
    };
  };
};

/** Callbridge answers errors as application/problem+json with a `code` and a `detail` naming field and rule. */
const problemCode = (text: string): string | undefined => {
  try {
    const body = JSON.parse(text) as { code?: unknown };
    return typeof body.code === 'string' ? body.code.slice(0, 64) : undefined;
  } catch {
    return undefined;
  }
};

const problemDetail = (text: string): string => {
  try {
    const body = JSON.parse(text) as { detail?: unknown };
    return typeof body.detail === 'string' ? body.detail.slice(0, 300) : '';
  } catch {
    return '';
  }
};
