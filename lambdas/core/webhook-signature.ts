/**
 * Standard Webhooks (https://www.standardwebhooks.com): HMAC-SHA256 over `id.timestamp.body`, keys `whsec_…`,
 * a 5-minute window. The HMAC and its constant-time compare come from the `standardwebhooks` package; the
 * window is checked here first with an injected clock so the rule is testable and errors say which rule failed.
 */
import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { HttpProblem } from './problem';

export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;
const WEBHOOK_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface WebhookHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

export const readWebhookHeaders = (headers: Record<string, string | undefined>): WebhookHeaders => {
  const missing = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].filter((name) => !headers[name]);
  if (missing.length > 0) {
    throw new HttpProblem(401, 'missing_headers', `missing header(s): ${missing.join(', ')}`);
  }
  const id = headers['webhook-id'] ?? '';
  if (!WEBHOOK_ID.test(id)) {
    throw new HttpProblem(
      401,
      'missing_headers',
      'webhook-id: expected 1-128 characters from [A-Za-z0-9._:-]',
    );
  }
  return { id, timestamp: headers['webhook-timestamp'] ?? '', signature: headers['webhook-signature'] ?? '' };
};

/** The timestamp rule: whole seconds since the epoch, within ±5 minutes of now. */
export const checkTimestamp = (header: string, nowSeconds: number): void => {
  if (!/^\d{1,12}$/.test(header)) {
    throw new HttpProblem(
      401,
      'bad_timestamp',
      'webhook-timestamp: expected whole seconds since the Unix epoch',
    );
  }
  const skew = nowSeconds - Number(header);
  if (skew > SIGNATURE_TOLERANCE_SECONDS) {
    throw new HttpProblem(
      401,
      'bad_timestamp',
      `webhook-timestamp is ${skew} s old; at most 300 s are accepted`,
    );
  }
  if (-skew > SIGNATURE_TOLERANCE_SECONDS) {
    throw new HttpProblem(
      401,
      'bad_timestamp',
      `webhook-timestamp is ${-skew} s in the future; at most 300 s are accepted`,
    );
  }
};

/**
 * Verify a raw body against every secret still valid for the account (more than one during a rotation).
 * @throws HttpProblem 401 when no secret matches
 */
export const verifySignature = (
  rawBody: string,
  headers: WebhookHeaders,
  secrets: readonly string[],
  nowSeconds: number,
): void => {
  checkTimestamp(headers.timestamp, nowSeconds);
  const asHeaders = {
    'webhook-id': headers.id,
    'webhook-timestamp': headers.timestamp,
    'webhook-signature': headers.signature,
  };
  for (const secret of secrets) {
    try {
      new Webhook(secret).verify(rawBody, asHeaders, { jsonParse: false });
      return;
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw error;
      if (/timestamp/i.test(error.message)) {
        throw new HttpProblem(401, 'bad_timestamp', `webhook-timestamp rejected: ${error.message}`);
      }
    }
  }
  throw new HttpProblem(
    401,
    'bad_signature',
    'webhook-signature: no v1 signature matches HMAC-SHA256(id.timestamp.body) with this account’s secret',
  );
};

/** Sign like a phone system would: the CLI, the demo page and the tests use this. */
export const signWebhook = (
  secret: string,
  id: string,
  timestampSeconds: number,
  rawBody: string,
): Record<string, string> => ({
  'webhook-id': id,
  'webhook-timestamp': String(timestampSeconds),
  'webhook-signature': new Webhook(secret).sign(id, new Date(timestampSeconds * 1000), rawBody),
});

export const newWebhookSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

export const isWebhookSecret = (value: string): boolean => /^whsec_[A-Za-z0-9+/]{16,}={0,2}$/.test(value);
