import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintKommoToken } from '../../infra/local/kommo-token';
import {
  CLIENT_SECRET,
  callEvent,
  sleep,
  startTestStack,
  TestSocket,
  type TestStack,
} from '../helpers/stack';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t.stop());

const refused = (url: string) => expect(TestSocket.open(url)).rejects.toThrow(/upgrade refused: 401/);

describe('POST /tickets', () => {
  it('exchanges a Kommo token for a single-use ticket and the socket URL', async () => {
    const res = await t.post('/tickets', { headers: { 'x-auth-token': await t.token(7) } });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ userId: 7, expiresIn: 60, protocol: 1 });
    expect(body.url).toBe(`${t.stack.webSocketUrl}?ticket=${body.ticket}`);
    const socket = await TestSocket.open(String(body.url));
    socket.close();
    await refused(String(body.url));
  });

  it.each([
    ['no token', undefined, 401],
    ['a token signed with another secret', 'forged', 401],
    ['an expired token', 'expired', 401],
    ['a token for an unregistered account', 'unknown', 404],
  ])('refuses %s', async (_label, kind, status) => {
    const base = { subdomain: 'acme', clientSecret: CLIENT_SECRET, integrationId: 'int-acme', userId: 7 };
    const token =
      kind === 'forged'
        ? await mintKommoToken({ ...base, clientSecret: 'z'.repeat(40) })
        : kind === 'expired'
          ? await mintKommoToken({ ...base, issuedAt: Math.floor(Date.now() / 1000) - 4000 })
          : kind === 'unknown'
            ? await mintKommoToken({ ...base, subdomain: 'initech' })
            : undefined;
    const before = await t.items();
    const res = await t.post('/tickets', { headers: token ? { 'x-auth-token': token } : {} });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await t.items()).toEqual(before);
  });

  it('answers CORS preflights from Kommo origins only', async () => {
    const preflight = (origin: string) =>
      fetch(`${t.stack.url}/tickets`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-auth-token',
        },
      });
    const ok = await preflight('https://acme.kommo.com');
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://acme.kommo.com');
    expect(ok.headers.get('access-control-allow-headers')).toContain('x-auth-token');
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('$connect', () => {
  it('never opens a socket without a genuine, unused, unexpired ticket', async () => {
    const url = t.stack.webSocketUrl;
    await refused(url);
    await refused(`${url}?ticket=${'A'.repeat(43)}`);
    await refused(`${url}?ticket=short`);
    const { ticket } = await t.ticket(7);
    await (await TestSocket.open(`${url}?ticket=${ticket}`)).close();
    await refused(`${url}?ticket=${ticket}`);
  });

  it('refuses an expired ticket', async () => {
    const { ticket } = await t.ticket(7);
    // Age the stored ticket instead of waiting a minute.
    const { hashTicket } = await import('../../lambdas/core/auth');
    const hash = hashTicket(ticket);
    await t.stack.state.consumeTicket(hash);
    await t.stack.state.saveTicket(hash, { subdomain: 'acme', userId: 7, expiresAt: Date.now() - 1 });
    await refused(`${t.stack.webSocketUrl}?ticket=${ticket}`);
  });

  it('stores the connection with account, user, connectedAt and a TTL, and forgets it on close', async () => {
    const socket = await t.connect(42);
    await sleep(50);
    const [id] = t.stack.gateway.connectionIds().slice(-1);
    const stored = await t.stack.state.getConnection(String(id));
    expect(stored).toMatchObject({ subdomain: 'acme', userId: 42 });
    expect((stored?.expiresAt ?? 0) - (stored?.connectedAt ?? 0)).toBeGreaterThan(2 * 3600_000);
    socket.close();
    await sleep(100);
    expect(await t.stack.state.getConnection(String(id))).toBeUndefined();
  });

  it('keeps accounts apart: a ticket of another account only hears that account', async () => {
    const mine = await t.connect(7, t.globex);
    await t.webhook(callEvent('call.ringing', { users: [7] }));
    await sleep(150);
    expect(mine.count('call')).toBe(0);
    mine.close();
  });
});

describe('$default', () => {
  it('answers ping with pong', async () => {
    const socket = await t.connect(7);
    socket.send({ action: 'ping' });
    await expect(socket.next('pong')).resolves.toEqual({ v: 1, type: 'pong' });
    socket.close();
  });

  it.each([
    ['malformed JSON', '{nope', 'malformed_json'],
    ['an unknown action', { action: 'subscribe' }, 'invalid_message'],
    ['a bad seq', { action: 'resume', after: -4 }, 'invalid_message'],
    ['an oversize message', { action: 'ping', pad: 'x'.repeat(5000) }, 'message_too_large'],
  ])('answers %s with an error message and keeps the socket', async (_label, message, code) => {
    const socket = await t.connect(7);
    socket.send(message);
    expect((await socket.next('error')).code).toBe(code);
    socket.send({ action: 'ping' });
    await socket.next('pong');
    socket.close();
  });

  it('answers a binary frame with an error', async () => {
    const socket = await t.connect(7);
    socket.ws.send(Buffer.from([1, 2, 3]));
    expect((await socket.next('error')).code).toBe('invalid_message');
    socket.close();
  });

  it('closes a socket that sends more than 128 KB, as API Gateway does', async () => {
    const socket = await t.connect(7);
    socket.send('x'.repeat(129 * 1024));
    await sleep(200);
    expect(socket.closed?.code).toBe(1009);
  });

  it('resumes with every call of the user in its latest state: active ones, and ended ones with their outcome', async () => {
    const first = await t.connect(55);
    const ringing = callEvent('call.ringing', { users: [55] });
    await t.webhook(ringing);
    const seen = (await first.next('call')).seq;
    first.close();
    // While the agent is away: the call is answered, and another call rings and ends unanswered.
    await t.webhook({ ...callEvent('call.answered', { id: ringing.call.id, users: [55] }) });
    const missed = callEvent('call.ringing', { users: [55] });
    await t.webhook(missed);
    await t.webhook(callEvent('call.ended', { id: missed.call.id, users: [55] }));

    const back = await t.connect(55);
    back.send({ action: 'resume', after: seen });
    const snapshot = await back.next('snapshot');
    // Nothing is replayed: the snapshot says what each call is now.
    expect(back.count('call')).toBe(0);
    expect(snapshot.seq).toBe(seen + 3);
    expect(snapshot.calls).toEqual([
      expect.objectContaining({ state: 'answered', call: expect.objectContaining({ id: ringing.call.id }) }),
    ]);
    expect(snapshot.recent).toEqual([
      expect.objectContaining({
        state: 'ended',
        call: expect.objectContaining({ id: missed.call.id, outcome: 'missed' }),
      }),
    ]);

    // A first connect (no seq yet) gets the same.
    const fresh = await t.connect(55);
    fresh.send({ action: 'resume' });
    const again = await fresh.next('snapshot');
    expect(again.calls).toHaveLength(1);
    expect(again.recent).toHaveLength(1);
    back.close();
    fresh.close();
  });

  it('leaves out a call its marker names but whose record does not: a marker written beside a save that lost a race', async () => {
    // The webhook indexes few recipients beside the save; if the save loses to a concurrent event, a marker
    // may be left for a user the call never reached.
    const other = callEvent('call.ringing', { users: [56] });
    await t.webhook(other);
    await t.stack.state.addCallUsers('acme', [57], other.call.id, Date.now());
    const socket = await t.connect(57);
    socket.send({ action: 'resume' });
    const snapshot = await socket.next('snapshot');
    expect(snapshot.calls).toEqual([]);
    expect(snapshot.recent ?? []).toEqual([]);
    socket.close();
  });

  it('never replays another account’s events, whatever seq is asked for', async () => {
    await t.webhook(callEvent('call.ringing', { users: [9] }));
    const other = await t.connect(9, t.globex);
    other.send({ action: 'resume', after: 0 });
    const snapshot = await other.next('snapshot');
    expect(snapshot.calls).toEqual([]);
    expect(other.count('call')).toBe(0);
    other.close();
  });
});
