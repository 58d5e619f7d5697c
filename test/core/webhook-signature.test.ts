import { describe, expect, it } from 'vitest';
import { HttpProblem } from '../../lambdas/core/problem';
import {
  checkTimestamp,
  newWebhookSecret,
  readWebhookHeaders,
  signWebhook,
  verifySignature,
} from '../../lambdas/core/webhook-signature';

const now = Math.floor(Date.now() / 1000);
const secret = newWebhookSecret();
const body = '{"hello":"world"}';

const problemOf = (fn: () => void) => {
  try {
    fn();
  } catch (error) {
    if (error instanceof HttpProblem) return { status: error.status, code: error.code, detail: error.detail };
    throw error;
  }
  throw new Error('expected a problem');
};

describe('webhook timestamp window', () => {
  it('accepts up to 300 s either side of now', () => {
    expect(() => checkTimestamp(String(now - 300), now)).not.toThrow();
    expect(() => checkTimestamp(String(now + 300), now)).not.toThrow();
  });

  it('rejects older or newer timestamps, saying by how much', () => {
    expect(problemOf(() => checkTimestamp(String(now - 301), now))).toMatchObject({
      status: 401,
      code: 'bad_timestamp',
      detail: 'webhook-timestamp is 301 s old; at most 300 s are accepted',
    });
    expect(problemOf(() => checkTimestamp(String(now + 301), now)).detail).toContain('301 s in the future');
  });

  it('rejects timestamps that are not whole seconds', () => {
    for (const bad of ['', 'abc', '1.5', '-1', `${now}000000`]) {
      expect(problemOf(() => checkTimestamp(bad, now)).code).toBe('bad_timestamp');
    }
  });
});

describe('webhook signature', () => {
  const headers = (id = 'msg_1', ts = now) => readWebhookHeaders(signWebhook(secret, id, ts, body));

  it('verifies a signature made with the account secret', () => {
    expect(() => verifySignature(body, headers(), [secret], now)).not.toThrow();
  });

  it('accepts any of several current secrets (rotation)', () => {
    expect(() => verifySignature(body, headers(), [newWebhookSecret(), secret], now)).not.toThrow();
  });

  it('rejects another secret, a changed body, a changed id', () => {
    expect(problemOf(() => verifySignature(body, headers(), [newWebhookSecret()], now)).code).toBe(
      'bad_signature',
    );
    expect(problemOf(() => verifySignature(`${body} `, headers(), [secret], now)).code).toBe('bad_signature');
    const moved = { ...headers(), id: 'msg_2' };
    expect(problemOf(() => verifySignature(body, moved, [secret], now)).code).toBe('bad_signature');
  });

  it('rejects an old timestamp even with a valid signature for it', () => {
    expect(problemOf(() => verifySignature(body, headers('m', now - 400), [secret], now)).code).toBe(
      'bad_timestamp',
    );
  });

  it('names missing headers', () => {
    expect(problemOf(() => readWebhookHeaders({ 'webhook-id': 'x' })).detail).toBe(
      'missing header(s): webhook-timestamp, webhook-signature',
    );
  });
});
