/**
 * Every rejected webhook: the status, a problem+json body naming the field or rule, and nothing stored
 * or pushed (the whole state table is compared before and after, and a socket of the agent stays silent).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../lambdas/core/webhook-signature';
import { callEvent, sleep, startTestStack, type TestSocket, type TestStack } from '../helpers/stack';

let t: TestStack;
let socket: TestSocket;
beforeAll(async () => {
  t = await startTestStack();
  socket = await t.connect(7);
});
afterAll(async () => {
  socket.close();
  await t.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const good = () => callEvent('call.ringing', { users: [7] });

type Case = [string, () => ReturnType<TestStack['webhook']>, number, string, string?];

const cases: Case[] = [
  ['unknown account', () => t.webhook(good(), { subdomain: 'nobody' }), 404, 'unknown_account'],
  ['body over 64 KB', () => t.webhook(`{"pad":"${'x'.repeat(70_000)}"}`), 413, 'payload_too_large'],
  [
    'not JSON content type',
    () => t.webhook(good(), { headers: { 'content-type': 'text/plain' } }),
    415,
    'unsupported_media_type',
  ],
  [
    'missing signature header',
    () => t.webhook(good(), { headers: { 'webhook-signature': undefined } }),
    401,
    'missing_headers',
    'webhook-signature',
  ],
  [
    'missing id header',
    () => t.webhook(good(), { headers: { 'webhook-id': undefined } }),
    401,
    'missing_headers',
    'webhook-id',
  ],
  ['stale timestamp', () => t.webhook(good(), { timestamp: now() - 301 }), 401, 'bad_timestamp', 'old'],
  // Well past the edge: the server's clock may have moved into the next second when it checks.
  ['future timestamp', () => t.webhook(good(), { timestamp: now() + 330 }), 401, 'bad_timestamp', 'future'],
  [
    'signature of another account',
    () => t.webhook(good(), { secret: t.globex.webhookSecrets[0]?.secret }),
    401,
    'bad_signature',
  ],
  [
    'body changed after signing',
    async () => {
      const body = JSON.stringify(good());
      const headers = signWebhook(t.acme.webhookSecrets[0]?.secret ?? '', 'msg_tamper', now(), body);
      return t.webhook(body.replace('+1555', '+1666'), { headers });
    },
    401,
    'bad_signature',
  ],
  ['malformed JSON', () => t.webhook('{"version":1,'), 400, 'malformed_json'],
  [
    'schema: markup in caller number',
    () => t.webhook({ ...good(), call: { ...good().call, from: '<script>x</script>' } }),
    400,
    'invalid_body',
    'call.from',
  ],
  [
    'schema: negative duration',
    () => t.webhook({ ...good(), call: { ...good().call, duration: -5 } }),
    400,
    'invalid_body',
    'call.duration',
  ],
  [
    'schema: extra field',
    () => t.webhook(JSON.stringify({ ...good(), admin: true })),
    400,
    'invalid_body',
    'admin',
  ],
  [
    'schema: missing call',
    () => t.webhook(JSON.stringify({ ...good(), call: undefined })),
    400,
    'invalid_body',
    'call',
  ],
];

describe('rejected webhooks store nothing and push nothing', () => {
  it.each(cases)('%s', async (_label, send, status, code, mentions) => {
    const before = await t.items();
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body).toMatchObject({ status, code, type: `urn:callbridge:problem:${code}` });
    if (mentions) expect(JSON.stringify(res.body)).toContain(mentions);
    expect(await t.items()).toEqual(before);
    await sleep(30);
    expect(socket.count('call')).toBe(0);
  });

  it('still serves the next good request', async () => {
    const res = await t.webhook(good());
    expect(res.status).toBe(202);
    await socket.next('call');
  });
});
