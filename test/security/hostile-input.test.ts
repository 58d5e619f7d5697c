/**
 * Hostile input against the running local stack. Every case gets a clear 4xx (or a WebSocket error message),
 * stores nothing, pushes nothing, and the stack still serves the next good request.
 */
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintKommoToken } from '../../infra/local/kommo-token';
import { hashTicket } from '../../lambdas/core/auth';
import { signWebhook } from '../../lambdas/core/webhook-signature';
import {
  CLIENT_SECRET,
  callEvent,
  sleep,
  startTestStack,
  TestSocket,
  type TestStack,
} from '../helpers/stack';

let t: TestStack;
let watcher: TestSocket;
let watcherOther: TestSocket;

beforeAll(async () => {
  t = await startTestStack();
  await t.stack.state.putAgentMap('acme', { '7': '101' }, 1, Date.now());
  watcher = await t.connect(7);
  watcherOther = await t.connect(7, t.globex);
});
afterAll(async () => {
  watcher.close();
  watcherOther.close();
  await t.stop();
});

const now = () => Math.floor(Date.now() / 1000);
const good = () => callEvent('call.ringing', { users: [7] });
const withCall = (patch: Record<string, unknown>) =>
  JSON.stringify({ ...good(), call: { ...good().call, ...patch } });
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const token = (opts: Parameters<typeof mintKommoToken>[0]) => mintKommoToken(opts);
const base = { subdomain: 'acme', clientSecret: CLIENT_SECRET, integrationId: 'int-acme', userId: 7 };

type Outcome = { status: number; text: string };
const webhook = async (body: string, opts: Parameters<TestStack['webhook']>[1] = {}): Promise<Outcome> => {
  const res = await t.webhook(body, opts);
  return { status: res.status, text: JSON.stringify(res.body) };
};
const http = async (path: string, init: RequestInit): Promise<Outcome> => {
  const res = await fetch(`${t.stack.url}${path}`, init);
  return { status: res.status, text: await res.text() };
};
const tickets = async (authToken: string | undefined) =>
  http('/tickets', { method: 'POST', headers: authToken ? { 'x-auth-token': authToken } : {} });
const putAgents = async (authToken: string, body: string) =>
  http('/agents', {
    method: 'PUT',
    headers: { 'x-auth-token': authToken, 'content-type': 'application/json' },
    body,
  });

const cases: [string, () => Promise<Outcome>, number, string][] = [
  // --- webhook bodies ---
  ['malformed JSON', () => webhook('{"version":1,"type":'), 400, 'malformed_json'],
  ['an empty body', () => webhook(''), 400, 'malformed_json'],
  ['a JSON array', () => webhook('[1,2,3]'), 400, 'expected a JSON object'],
  ['a JSON string', () => webhook('"call"'), 400, 'expected a JSON object'],
  ['JSON null', () => webhook('null'), 400, 'expected a JSON object'],
  ['deeply nested JSON', () => webhook(nested(5000)), 400, 'invalid_body'],
  [
    'deeply nested JSON inside a field',
    () => webhook(JSON.stringify({ ...good(), agents: JSON.parse(nested(500)) })),
    400,
    'agents',
  ],
  [
    'a huge string field under the size limit',
    () => webhook(withCall({ id: 'x'.repeat(60_000) })),
    400,
    'call.id',
  ],
  ['a body over 64 KB', () => webhook(withCall({ from: 'x'.repeat(70_000) })), 413, 'payload_too_large'],
  ['a number where a string belongs', () => webhook(withCall({ from: 15551234567 })), 400, 'call.from'],
  ['a string where a number belongs', () => webhook(withCall({ duration: '60' })), 400, 'call.duration'],
  ['a boolean version', () => webhook(JSON.stringify({ ...good(), version: true })), 400, 'version'],
  ['a missing call', () => webhook(JSON.stringify({ ...good(), call: undefined })), 400, 'call'],
  ['a missing call id', () => webhook(withCall({ id: undefined })), 400, 'call.id'],
  ['a missing type', () => webhook(JSON.stringify({ ...good(), type: undefined })), 400, 'type'],
  ['an extra top-level field', () => webhook(JSON.stringify({ ...good(), isAdmin: true })), 400, 'isAdmin'],
  ['an extra call field', () => webhook(withCall({ __proto__x: 1 })), 400, 'call.__proto__x'],
  [
    'a __proto__ key',
    () => webhook(`{"__proto__":{"polluted":true},${JSON.stringify(good()).slice(1)}`),
    400,
    '__proto__',
  ],
  ['a negative duration', () => webhook(withCall({ duration: -1 })), 400, 'call.duration'],
  ['a NaN duration (as a string)', () => webhook(withCall({ duration: 'NaN' })), 400, 'call.duration'],
  [
    'an infinite duration',
    () => webhook(withCall({ duration: 'INFINITY' }).replace('"INFINITY"', '1e400')),
    400,
    'call.duration',
  ],
  ['a fractional duration', () => webhook(withCall({ duration: 12.5 })), 400, 'call.duration'],
  [
    'HTML in the caller number',
    () => webhook(withCall({ from: '<img src=x onerror=alert(1)>' })),
    400,
    'call.from',
  ],
  ['a script in the callee', () => webhook(withCall({ to: '<script>alert(1)</script>' })), 400, 'call.to'],
  [
    'a javascript: recording link',
    () => webhook(withCall({ recordingUrl: 'javascript:alert(1)' })),
    400,
    'call.recordingUrl',
  ],
  [
    'a data: recording link',
    () => webhook(withCall({ recordingUrl: 'data:text/html,<b>x</b>' })),
    400,
    'call.recordingUrl',
  ],
  [
    'HTML in an extension',
    () => webhook(JSON.stringify({ ...good(), agents: { extensions: ['<b>101</b>'] } })),
    400,
    'agents.extensions.0',
  ],
  [
    'a negative user id',
    () => webhook(JSON.stringify({ ...good(), agents: { users: [-7] } })),
    400,
    'agents.users.0',
  ],
  ['an unknown state', () => webhook(JSON.stringify({ ...good(), type: 'call.transferred' })), 400, 'type'],
  [
    'an invalid timestamp',
    () => webhook(JSON.stringify({ ...good(), occurredAt: '2026-13-45T99:99:99Z' })),
    400,
    'occurredAt',
  ],
  [
    'text/plain',
    () => webhook(JSON.stringify(good()), { headers: { 'content-type': 'text/plain' } }),
    415,
    'unsupported_media_type',
  ],
  [
    'no content type',
    () => webhook(JSON.stringify(good()), { headers: { 'content-type': undefined } }),
    415,
    'unsupported_media_type',
  ],
  // --- webhook signatures ---
  [
    'no signature',
    () => webhook(JSON.stringify(good()), { headers: { 'webhook-signature': undefined } }),
    401,
    'webhook-signature',
  ],
  [
    'a stale timestamp',
    () => webhook(JSON.stringify(good()), { timestamp: now() - 600 }),
    401,
    'bad_timestamp',
  ],
  [
    'a future timestamp',
    () => webhook(JSON.stringify(good()), { timestamp: now() + 600 }),
    401,
    'bad_timestamp',
  ],
  [
    'a timestamp in milliseconds',
    () => webhook(JSON.stringify(good()), { timestamp: Date.now() }),
    401,
    'bad_timestamp',
  ],
  [
    'another account’s secret',
    () => webhook(JSON.stringify(good()), { secret: t.globex.webhookSecrets[0]?.secret }),
    401,
    'bad_signature',
  ],
  [
    'a v2 signature scheme',
    () => webhook(JSON.stringify(good()), { headers: { 'webhook-signature': 'v2,AAAA' } }),
    401,
    'bad_signature',
  ],
  [
    'a garbage webhook-id',
    () => webhook(JSON.stringify(good()), { id: '../../etc/passwd' }),
    401,
    'webhook-id',
  ],
  [
    'a signature replayed onto another body',
    async () => {
      const original = JSON.stringify(good());
      const headers = signWebhook(t.acme.webhookSecrets[0]?.secret ?? '', 'msg_replay_body', now(), original);
      return webhook(JSON.stringify(good()), { headers });
    },
    401,
    'bad_signature',
  ],
  [
    'an unknown account',
    () => webhook(JSON.stringify(good()), { subdomain: 'no-such-account' }),
    404,
    'unknown_account',
  ],
  [
    'a subdomain with a path in it',
    () => webhook(JSON.stringify(good()), { subdomain: '..%2F..%2Facme' }),
    404,
    'unknown_account',
  ],
  // --- Kommo tokens ---
  [
    'a token with alg none',
    () =>
      tickets(
        new UnsecuredJWT({ user_id: 7, subdomain: 'acme' })
          .setIssuer('https://acme.kommo.com')
          .setIssuedAt()
          .setExpirationTime('1h')
          .encode(),
      ),
    401,
    'unauthorized',
  ],
  [
    'a token signed with a wrong secret',
    async () => tickets(await token({ ...base, clientSecret: 'wrong-secret-wrong-secret-0000' })),
    401,
    'signature',
  ],
  ['an expired token', async () => tickets(await token({ ...base, issuedAt: now() - 7200 })), 401, 'expired'],
  [
    'a token for another subdomain signed with our secret',
    async () => tickets(await token({ ...base, subdomain: 'globex' })),
    401,
    'signature',
  ],
  [
    'a token whose subdomain claim contradicts iss',
    async () => {
      const key = new TextEncoder().encode(CLIENT_SECRET);
      const jwt = await new SignJWT({ user_id: 7, subdomain: 'globex' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('https://acme.kommo.com')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key);
      return tickets(jwt);
    },
    401,
    'subdomain',
  ],
  [
    'a token of another integration',
    async () => tickets(await token({ ...base, integrationId: 'someone-else' })),
    401,
    'client_uuid',
  ],
  ['a token as garbage', () => tickets('not-a-jwt'), 401, 'not a JWT'],
  ['no token', () => tickets(undefined), 401, 'X-Auth-Token'],
  [
    'a non-admin PUT /agents',
    async () => putAgents(await token({ ...base, isAdmin: false }), '{"agents":{"7":"999"}}'),
    403,
    'administrator',
  ],
  [
    'a PUT /agents with markup',
    async () => putAgents(await token({ ...base, isAdmin: true }), '{"agents":{"7":"<img src=x>"}}'),
    400,
    'agents.7',
  ],
  [
    'a PUT /agents that is not JSON',
    async () => putAgents(await token({ ...base, isAdmin: true }), 'agents=1'),
    400,
    'malformed_json',
  ],
];

describe(`hostile input (${cases.length} HTTP cases)`, () => {
  it('has at least 40 cases', () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases)('%s → %i, nothing stored, nothing pushed', async (_label, send, status, mentions) => {
    const before = await t.items();
    const agents = JSON.stringify(await t.stack.state.getAgentMap('acme'));
    const outcome = await send();
    expect(outcome.status).toBe(status);
    expect(outcome.text).toContain(mentions);
    expect(await t.items()).toEqual(before);
    expect(JSON.stringify(await t.stack.state.getAgentMap('acme'))).toBe(agents);
    await sleep(20);
    expect(watcher.count('call')).toBe(0);
    expect(watcherOther.count('call')).toBe(0);
    // Nothing leaked into the process either.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('hostile sockets', () => {
  it('never opens a socket with a reused, expired, forged or other-account ticket', async () => {
    const refused = (url: string) => expect(TestSocket.open(url)).rejects.toThrow(/401/);
    const { ticket } = await t.ticket(7);
    const s = await TestSocket.open(`${t.stack.webSocketUrl}?ticket=${ticket}`);
    s.close();
    await refused(`${t.stack.webSocketUrl}?ticket=${ticket}`);
    const other = await t.ticket(7, t.globex);
    await t.stack.state.consumeTicket(hashTicket(other.ticket));
    await refused(other.url);
    const aged = await t.ticket(7);
    await t.stack.state.consumeTicket(hashTicket(aged.ticket));
    await t.stack.state.saveTicket(hashTicket(aged.ticket), {
      subdomain: 'acme',
      userId: 7,
      expiresAt: Date.now() - 1,
    });
    await refused(aged.url);
    await refused(`${t.stack.webSocketUrl}?ticket=${'x'.repeat(43)}`);
    await refused(`${t.stack.webSocketUrl}?ticket=${encodeURIComponent("' OR 1=1 --")}`);
  });

  it.each([
    ['over 128 KB', () => 'x'.repeat(129 * 1024), 'close'],
    ['one frame over 32 KB', () => 'x'.repeat(33 * 1024), 'close'],
    ['a binary frame', () => Buffer.from([0xde, 0xad]), 'invalid_message'],
    ['malformed JSON', () => '{"action":', 'malformed_json'],
    ['an unknown action', () => JSON.stringify({ action: 'sendToAll', body: 'x' }), 'invalid_message'],
    ['a resume for a negative seq', () => JSON.stringify({ action: 'resume', after: -1 }), 'invalid_message'],
    [
      'a resume with a string seq',
      () => JSON.stringify({ action: 'resume', after: '0 OR 1' }),
      'invalid_message',
    ],
    ['a 5 KB message', () => JSON.stringify({ action: 'ping', pad: 'x'.repeat(5000) }), 'message_too_large'],
  ])(
    'answers %s with an error, changes nothing, and serves the next request',
    async (_label, make, expected) => {
      const socket = await t.connect(7);
      const before = await t.items();
      socket.ws.send(make());
      if (expected === 'close') {
        await sleep(200);
        expect(socket.closed?.code).toBe(1009);
      } else {
        expect((await socket.next('error')).code).toBe(expected);
        socket.send({ action: 'ping' });
        await socket.next('pong');
      }
      // items() leaves out the socket's own bookkeeping, removed when it closes.
      expect(await t.items()).toEqual(before);
      socket.close();
    },
  );

  it('survives a flood of messages from one socket and keeps serving other agents', async () => {
    const flooder = await t.connect(7);
    for (let i = 0; i < 3000; i++) flooder.ws.send(i % 2 ? '{"action":"ping"}' : '{bad');
    const res = await t.webhook(callEvent('call.ringing', { users: [31] }));
    expect(res.status).toBe(202);
    const victim = await t.connect(31);
    victim.send({ action: 'resume', after: 0 });
    expect((await victim.next('snapshot')).calls).toHaveLength(1);
    // The flooder is told (rate_limited), then closed (see tenant-limits.test.ts); the others are served.
    await expect.poll(() => flooder.closed?.code).toBe(1000);
    expect(flooder.messages.some((m) => m.type === 'error' && m.code === 'rate_limited')).toBe(true);
    // Past the stage's burst, API Gateway answers with its own throttling message, as the local gateway does.
    expect(t.stack.gateway.stats.messagesThrottled).toBeGreaterThan(0);
    await expect
      .poll(() =>
        flooder.messages.some((m) => (m as unknown as { message?: string }).message === 'Too Many Requests'),
      )
      .toBe(true);
    flooder.close();
    victim.close();
  });
});

describe('the stack after all of that', () => {
  it('still serves a good webhook to the watching agent', async () => {
    const res = await t.webhook(good());
    expect(res.status).toBe(202);
    await watcher.next('call');
    expect(watcherOther.count('call')).toBe(0);
  });
});
