/**
 * Kommo's bell when the users' tabs did not acknowledge the pop-up (issue 13 §4), end to end: webhook → the
 * delayed `bell-check` job on the local queue → worker → the emulator's `POST /api/v2/events`, with real `ws`
 * sockets sending the widget's `ack` through the local API Gateway to `$default`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BELL_ACK_SECONDS } from '../../lambdas/crm/ports';
import { makeCrmWorkerHandler } from '../../lambdas/handlers/crm-worker';
import { KommoError } from '../../lambdas/kommo/errors';
import type { CrmWorkerDeps } from '../../lambdas/usecases/crm-worker';
import { sleep, TestSocket } from '../helpers/stack';
import { type CrmWorld, KNOWN, startCrmWorld } from './helpers';

let w: CrmWorld;
beforeAll(async () => {
  w = await startCrmWorld();
});
afterAll(() => w.world.stop());

/** Every bell the emulator received since `from`, with its users. */
const bellsSince = (from: number) => w.world.kommo.written.events.slice(from).map((e) => e.body);

const connect = async (userId: number) => {
  const res = await fetch(`${w.world.stack.url}/tickets`, {
    method: 'POST',
    headers: { 'x-auth-token': await w.world.widgetToken(userId) },
  });
  const { url } = (await res.json()) as { url: string };
  return TestSocket.open(url);
};

/** Past the acknowledgement window, then the queue drained: what the bell's check decided is in Kommo. */
const afterWindow = async () => {
  await sleep(BELL_ACK_SECONDS * 1000 + 300);
  await w.world.stack.crm.drain();
};

const ringing = (id: string, users = [202]) => w.event('call.ringing', { id, users });

describe('the bell when no tab acknowledged the pop-up', () => {
  it('a socket that acks the pop-up: no bell, ever', async () => {
    const socket = await connect(202);
    const from = w.world.kommo.written.events.length;
    expect(await w.send(ringing('bell-acked'))).toBe(202);
    const pushed = await socket.next('call', (m) => m.view.call.id === 'bell-acked');
    socket.send({ action: 'ack', callId: 'bell-acked', seq: pushed.seq });
    await expect
      .poll(() => w.world.stack.acks.ackedUsers('acme', 'bell-acked'), { timeout: 5000 })
      .toEqual([202]);
    await afterWindow();
    expect(bellsSince(from)).toEqual([]);
    // The check has run and is gone: nothing waits to ring later.
    expect((await w.world.stack.crm.queue.peek()).filter((m) => m.body.includes('bell-acked'))).toEqual([]);
    // No error came back for a good ack (an ack has no answer).
    expect(socket.count('error')).toBe(0);
    socket.close();
  });

  it('a socket that never acks: exactly one bell, once the window is over', async () => {
    const socket = await connect(202);
    const from = w.world.kommo.written.events.length;
    expect(await w.send(ringing('bell-frozen'), 'ring-bell-frozen')).toBe(202);
    await socket.next('call', (m) => m.view.call.id === 'bell-frozen');
    // The push reached a socket, so nothing rings at once: the check is held back by the queue.
    await w.world.stack.crm.drain();
    expect(bellsSince(from)).toEqual([]);
    const waiting = (await w.world.stack.crm.queue.peek()).filter((m) => m.body.includes('bell-frozen'));
    expect(waiting.map((m) => JSON.parse(m.body).kind)).toEqual(['bell-check']);
    await afterWindow();
    expect(bellsSince(from)).toEqual([{ type: 'phone_call', phone_number: KNOWN, users: [202] }]);
    // The provider's retry of the same ringing webhook (answered from the dedupe log), a replayed check and a
    // replayed bell ring nobody again.
    expect(await w.send(ringing('bell-frozen'), 'ring-bell-frozen')).toBe(200);
    await w.world.stack.crm.queue.send([{ kind: 'bell-check', subdomain: 'acme', callId: 'bell-frozen' }]);
    await w.world.stack.crm.queue.send([{ kind: 'bell', subdomain: 'acme', callId: 'bell-frozen' }]);
    await afterWindow();
    expect(bellsSince(from)).toHaveLength(1);
    socket.close();
  });

  it('a bell whose answer was lost after Kommo rang it is never sent again', async () => {
    const { stack } = w.world;
    const from = w.world.kommo.written.events.length;
    // No socket: the bell is queued at once.
    expect(await w.send(ringing('bell-lost-answer'))).toBe(202);
    const losing = makeCrmWorkerHandler({
      ...stack.crm.workerDeps,
      client: {
        request: (async (accountId: number, method: string, path: string, request: object = {}) => {
          const res = await stack.crm.workerDeps.client.request(accountId, method, path, request);
          if (path === '/api/v2/events') throw new KommoError('timeout', 'POST /api/v2/events: no answer');
          return res;
        }) as CrmWorkerDeps['client']['request'],
      },
    });
    await stack.crm.pollWith(losing);
    expect(bellsSince(from)).toHaveLength(1);
    // The queue's next attempts, the delayed check and a replay of the bell ring nobody again.
    await stack.crm.queue.send([{ kind: 'bell', subdomain: 'acme', callId: 'bell-lost-answer' }]);
    await afterWindow();
    expect(bellsSince(from)).toHaveLength(1);
  });

  it('a call answered or ended before the window is over: no bell', async () => {
    const socket = await connect(202);
    const from = w.world.kommo.written.events.length;
    await w.send(ringing('bell-answered'));
    await w.send(w.event('call.answered', { id: 'bell-answered', users: [202] }));
    await w.send(ringing('bell-ended'));
    await w.send(w.event('call.ended', { id: 'bell-ended', users: [202] }, { outcome: 'missed' }));
    await afterWindow();
    expect(bellsSince(from)).toEqual([]);
    socket.close();
  });

  it('rings only the users whose tabs did not ack, a user the ring group adds later included, each once', async () => {
    const ada = await connect(201);
    const from = w.world.kommo.written.events.length;
    await w.send(ringing('bell-group', [201, 202]));
    const pushed = await ada.next('call', (m) => m.view.call.id === 'bell-group');
    ada.send({ action: 'ack', callId: 'bell-group', seq: pushed.seq });
    await expect
      .poll(() => w.world.stack.acks.ackedUsers('acme', 'bell-group'), { timeout: 5000 })
      .toEqual([201]);
    // 202 has no socket at all: the bell rings for 202, not for Ada who saw the pop-up.
    await afterWindow();
    expect(bellsSince(from)).toEqual([{ type: 'phone_call', phone_number: KNOWN, users: [202] }]);
    // The ring group moves on to user 204's extension (a free seat: a user all the same); nobody acks.
    await w.send(ringing('bell-group', [204]));
    await afterWindow();
    expect(bellsSince(from)).toEqual([
      { type: 'phone_call', phone_number: KNOWN, users: [202] },
      { type: 'phone_call', phone_number: KNOWN, users: [204] },
    ]);
    ada.close();
  });

  it('bad acks get a clear error and store nothing', async () => {
    const linus = await connect(202);
    const ada = await connect(201);
    await w.send(ringing('bell-bad', [202]));
    const pushed = await linus.next('call', (m) => m.view.call.id === 'bell-bad');
    const refused = async (socket: TestSocket, message: unknown) => {
      const before = socket.count('error');
      socket.send(message);
      await expect.poll(() => socket.count('error'), { timeout: 5000 }).toBe(before + 1);
      return socket.messages.filter((m) => m.type === 'error').at(-1);
    };
    expect(await refused(linus, { action: 'ack', seq: pushed.seq })).toMatchObject({
      code: 'invalid_message',
      message: expect.stringMatching(/^callId: required field is missing/),
    });
    expect(await refused(linus, { action: 'ack', callId: 'bell bad', seq: 1 })).toMatchObject({
      code: 'invalid_message',
      message: expect.stringContaining('callId: expected the call id of the pop-up'),
    });
    expect(await refused(linus, { action: 'ack', callId: 'bell-bad', seq: -1 })).toMatchObject({
      code: 'invalid_message',
      message: 'seq: expected 0 or more',
    });
    expect(await refused(linus, { action: 'ack', callId: 'bell-bad', seq: '7' })).toMatchObject({
      code: 'invalid_message',
      message: expect.stringContaining('seq: expected the seq'),
    });
    expect(await refused(linus, { action: 'ack', callId: 'bell-bad', seq: 1, user: 201 })).toMatchObject({
      code: 'invalid_message',
      message: 'user: unknown field; remove it',
    });
    // A call that does not exist, and one that rings someone else: the same answer, nothing stored.
    expect(await refused(linus, { action: 'ack', callId: 'no-such-call', seq: 1 })).toMatchObject({
      code: 'unknown_call',
      message: expect.stringContaining('callId: call no-such-call was not offered to this user'),
    });
    expect(await refused(ada, { action: 'ack', callId: 'bell-bad', seq: pushed.seq })).toMatchObject({
      code: 'unknown_call',
      message: expect.stringContaining('callId: call bell-bad was not offered to this user'),
    });
    expect(await w.world.stack.acks.ackedUsers('acme', 'bell-bad')).toEqual([]);
    expect(await w.world.stack.acks.ackedUsers('acme', 'no-such-call')).toEqual([]);
    // So the bell rings for Linus, whose tab never acknowledged.
    const from = w.world.kommo.written.events.length;
    await afterWindow();
    expect(bellsSince(from)).toEqual([{ type: 'phone_call', phone_number: KNOWN, users: [202] }]);
    // A late ack of a call no longer ringing is answered with nothing and stores nothing.
    await w.send(w.event('call.answered', { id: 'bell-bad', users: [202] }));
    const errors = linus.count('error');
    linus.send({ action: 'ack', callId: 'bell-bad', seq: pushed.seq });
    linus.send({ action: 'ping' });
    await linus.next('pong');
    await sleep(200);
    expect(linus.count('error')).toBe(errors);
    expect(await w.world.stack.acks.ackedUsers('acme', 'bell-bad')).toEqual([]);
    linus.close();
    ada.close();
  });

  it('the bell off in the settings: no bell, ack or not', async () => {
    const { stack } = w.world;
    const account = await stack.accounts.getAccount('acme');
    await stack.crm.ledger.putSettings(account?.kommoAccountId ?? 0, {
      ...((await stack.crm.ledger.getSettings(account?.kommoAccountId ?? 0)) ?? {
        leads: true,
        tasks: true,
        completeTasks: true,
        taskDelayMinutes: 15,
        sourceName: 'Callbridge',
        bell: true,
      }),
      bell: false,
    });
    const from = w.world.kommo.written.events.length;
    await w.send(ringing('bell-off'));
    await afterWindow();
    expect(bellsSince(from)).toEqual([]);
  });
});
