/**
 * One tenant cannot hurt another: a user's sockets are capped (the oldest closed), tickets are rate-limited per
 * user, and a socket flooding `$default` is told to stop and then closed before it drains the stage throttle
 * that every account shares (the local gateway applies API Gateway's: 500 messages/s, burst 1,000).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TENANT_LIMITS } from '../../lambdas/core/limits';
import { sleep, startTestStack, type TestSocket, type TestStack } from '../helpers/stack';

// The production limits, but a burst budget of 5 that does not refill during a test: what a burst is then
// does not depend on how fast a loaded machine (all of it in one process here) gets through its messages, and
// a flood is closed after a few serial round trips (on AWS, $default runs a socket's messages concurrently).
const LIMITS = { ...TENANT_LIMITS, burstMessages: 5, burstRefillPerSecond: 0.001 };
let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ limits: LIMITS });
});
afterAll(() => t.stop());

/** Counters are per minute: a test that counts to a limit starts well inside one. */
const inFreshWindow = async () => {
  const into = Date.now() % 60_000;
  if (into > 50_000) await sleep(60_000 - into + 50);
};

const until = async (test: () => boolean | Promise<boolean>, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
};

const throttled = (socket: TestSocket) =>
  socket.messages.filter((m) => (m as unknown as { message?: string }).message === 'Too Many Requests')
    .length;

describe('per-tenant limits', () => {
  it('keeps at most 10 live sockets per user, closing the oldest, so a push to that user stays small', async () => {
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 15; i++) sockets.push(await t.connect(31));
    const cap = TENANT_LIMITS.socketsPerUser;
    await until(() => sockets.filter((s) => s.closed).length === 15 - cap);
    // The oldest went; the newest ten are open and are the only ones routing finds.
    expect(sockets.map((s) => s.closed !== undefined)).toEqual([
      ...Array(15 - cap).fill(true),
      ...Array(cap).fill(false),
    ]);
    expect(await t.stack.state.connectionsOf('acme', [31], Date.now())).toHaveLength(cap);
    const res = await t.webhook({
      version: 1,
      type: 'call.ringing',
      call: { id: 'cap-1', direction: 'inbound', from: '+15551234567', to: '101' },
      agents: { users: [31] },
      occurredAt: new Date().toISOString(),
    });
    expect(res.body).toMatchObject({ status: 'accepted', sockets: cap });
    for (const s of sockets) s.close();
  });

  it('refuses a user’s tickets past 20 a minute with 429, retry-after and nothing stored', async () => {
    await inFreshWindow();
    const token = await t.token(32);
    const issue = () => t.post('/tickets', { headers: { 'x-auth-token': token } });
    // One disposable token may be reused within its lifetime (Kommo does not promise a new jti each time).
    for (let i = 0; i < TENANT_LIMITS.ticketsPerWindow; i++) expect((await issue()).status).toBe(201);
    const before = await t.items();
    const refused = await issue();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await refused.json()).toMatchObject({ status: 429, code: 'too_many_requests' });
    expect(await t.items()).toEqual(before);
    // Another user of the same account is not affected.
    expect((await t.post('/tickets', { headers: { 'x-auth-token': await t.token(33) } })).status).toBe(201);
  });

  it('answers a burst past its budget with one rate_limited error, then closes the socket past twice it', async () => {
    const socket = await t.connect(34);
    for (let i = 0; i < LIMITS.burstMessages + 2; i++) socket.send({ action: 'ping' });
    await until(() => socket.count('pong') === LIMITS.burstMessages && socket.count('error') === 1);
    expect(socket.messages.find((m) => m.type === 'error')).toMatchObject({
      code: 'rate_limited',
      message: expect.stringContaining('at once'),
    });
    expect(socket.closed).toBeUndefined();
    for (let i = 0; i < LIMITS.burstMessages; i++) socket.send({ action: 'ping' });
    await until(() => socket.closed !== undefined);
    expect(socket.count('pong')).toBe(LIMITS.burstMessages);
    expect(socket.count('error')).toBe(1);
  });

  it('answers a resume past 10 a minute with rate_limited; the socket stays usable', async () => {
    // A burst budget out of the way: this is about the resumes' own.
    const roomy = await startTestStack({ limits: { ...TENANT_LIMITS, burstMessages: 100 } });
    try {
      await inFreshWindow();
      const socket = await roomy.connect(34);
      for (let i = 0; i < TENANT_LIMITS.resumesPerWindow + 1; i++)
        socket.send({ action: 'resume', after: 0 });
      const error = await socket.next('error', (m) => m.code === 'rate_limited');
      expect(error.message).toContain('resumes a minute');
      await until(() => socket.count('snapshot') === TENANT_LIMITS.resumesPerWindow);
      socket.send({ action: 'ping' });
      await socket.next('pong');
      expect(socket.count('snapshot')).toBe(TENANT_LIMITS.resumesPerWindow);
      expect(socket.closed).toBeUndefined();
      socket.close();
    } finally {
      await roomy.stop();
    }
  });

  it('closes a socket flooding 3,000 messages before it drains the stage throttle other accounts’ pings need', async () => {
    const flooder = await t.connect(35, t.globex);
    // Eight agents of another account ping in turn, one every 110 ms between them (each within its budget).
    const bystanders: TestSocket[] = [];
    for (let user = 36; user < 44; user++) bystanders.push(await t.connect(user));
    // Both sides have spoken once (a warm $default), so the figures are about the flood, not a cold start.
    flooder.send({ action: 'ping' });
    await flooder.next('pong');
    let pings = 0;
    const pinging = (async () => {
      for (let i = 0; i < 32; i++) {
        bystanders[i % bystanders.length]?.send({ action: 'ping' });
        pings++;
        await sleep(110);
      }
    })();
    // 3,000 messages at 850 a second, over half again what the shared stage refills (500/s): left alone, the
    // flood empties the stage's burst of 1,000 after about three seconds, and from then on every account's
    // messages are refused. (Paced by the clock, not by timers, which a loaded machine stretches.)
    const throttledBefore = t.stack.gateway.stats.messagesThrottled;
    const started = Date.now();
    let sent = 0;
    while (sent < 3000 && flooder.ws.readyState === flooder.ws.OPEN) {
      const due = Math.min(3000, Math.floor((Date.now() - started) * 0.85));
      for (; sent < due && flooder.ws.readyState === flooder.ws.OPEN; sent++)
        flooder.send({ action: 'ping' });
      await sleep(10);
    }
    await pinging;
    const pongs = () => bystanders.reduce((n, b) => n + b.count('pong'), 0);
    await until(() => pongs() === pings).catch(() => {});
    // The shared stage never ran dry: not one message of any socket was refused by it.
    expect(t.stack.gateway.stats.messagesThrottled - throttledBefore).toBe(0);
    expect(bystanders.map(throttled)).toEqual(bystanders.map(() => 0));
    expect(pongs()).toBe(pings);
    // The flooder was told, then closed, long before its 3,000th message.
    expect(flooder.messages.some((m) => m.type === 'error' && m.code === 'rate_limited')).toBe(true);
    await until(() => flooder.closed !== undefined);
    expect(sent).toBeLessThan(3000);
    for (const b of bystanders) b.close();
  }, 30_000);
});
