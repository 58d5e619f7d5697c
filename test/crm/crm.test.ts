/**
 * Calls into Kommo, end to end against the emulator: webhook → queue → worker → Kommo's calls, unsorted,
 * tasks and events APIs; settings for admins; failures shown to them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BELL_ACK_SECONDS } from '../../lambdas/crm/ports';
import { makeCrmWorkerHandler } from '../../lambdas/handlers/crm-worker';
import { KommoError } from '../../lambdas/kommo/errors';
import type { CrmWorkerDeps } from '../../lambdas/usecases/crm-worker';
import { sleep } from '../helpers/stack';
import { type CrmWorld, entriesOf, KNOWN, startCrmWorld, UNKNOWN } from './helpers';

let w: CrmWorld;
beforeAll(async () => {
  w = await startCrmWorld();
});
afterAll(() => w.world.stop());

const settingsApi = async (userId: number, isAdmin: boolean, method = 'GET', body?: unknown) => {
  const res = await fetch(`${w.world.stack.url}/settings/crm`, {
    method,
    headers: {
      'x-auth-token': await w.world.widgetToken(userId, isAdmin),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe('calls in Kommo', () => {
  it('an answered call becomes one entry, with the recording that arrived after it ended', async () => {
    const spec = { id: 'crm-answered-1', users: [202] };
    expect(await w.call(spec, true, { duration: 42 })).toBe(202);
    // The recording comes after the end, before the worker ran: the entry carries it.
    expect(await w.send(w.event('call.recording', spec, { recordingUrl: 'https://rec.example/1.mp3' }))).toBe(
      202,
    );
    await w.world.stack.crm.drain();
    const entries = entriesOf(w.world, 'crm-answered-1');
    expect(entries).toHaveLength(1);
    expect(entries[0]?.body).toMatchObject({
      direction: 'inbound',
      duration: 42,
      phone: KNOWN,
      call_status: 4,
      call_responsible: 202,
      created_by: 202,
      source: 'Callbridge',
      link: 'https://rec.example/1.mp3',
    });
    expect(entries[0]?.entity).toEqual({ id: 7001, type: 'contact' });
    // The same webhooks again (a provider's retries) and a replay of the job: still one entry.
    await w.call(spec, true, { duration: 42 });
    await w.world.stack.crm.queue.send([{ kind: 'log', subdomain: 'acme', callId: 'crm-answered-1' }]);
    await w.world.stack.crm.drain();
    expect(entriesOf(w.world, 'crm-answered-1')).toHaveLength(1);
  });

  it('an unknown caller becomes one incoming lead with the number in from and phone, and one task', async () => {
    const spec = { id: 'crm-unknown-1', from: UNKNOWN, users: [202] };
    await w.call(spec, false);
    await w.world.stack.crm.drain();
    await w.world.stack.crm.queue.send([{ kind: 'log', subdomain: 'acme', callId: 'crm-unknown-1' }]);
    await w.world.stack.crm.drain();
    expect(entriesOf(w.world, 'crm-unknown-1')).toHaveLength(0);
    const leads = w.world.kommo.written.unsorted.filter(
      (u) => (u.body.metadata as Record<string, unknown>).uniq === 'crm-unknown-1',
    );
    expect(leads).toHaveLength(1);
    expect(leads[0]?.body.metadata).toMatchObject({ from: UNKNOWN, phone: UNKNOWN, call_responsible: 202 });
    const tasks = w.world.kommo.written.tasks.filter((t) => t.body.text === `Call back ${UNKNOWN}`);
    expect(tasks).toHaveLength(1);
    // No contact: the agent who was rung.
    expect(tasks[0]?.body).toMatchObject({ entity_type: 'leads', responsible_user_id: 202, task_type_id: 1 });
  });

  it('a missed call makes one task for the contact’s responsible user, due in 15 minutes; a later answered call completes it', async () => {
    const before = w.world.kommo.written.tasks.length;
    const spec = { id: 'crm-missed-1', users: [202] };
    await w.call(spec, false);
    await w.world.stack.crm.drain();
    const tasks = w.world.kommo.written.tasks.slice(before);
    expect(tasks).toHaveLength(1);
    const task = tasks[0];
    expect(task?.body).toMatchObject({
      text: `Call back ${KNOWN}`,
      entity_id: 7001,
      entity_type: 'contacts',
    });
    // The emulator's contacts are the account's first user's (201).
    expect(task?.body.responsible_user_id).toBe(201);
    const due = Number(task?.body.complete_till);
    const ended = Math.floor((Date.now() + w.world.time.offsetMs) / 1000);
    expect(due - ended).toBeGreaterThanOrEqual(15 * 60 - 5);
    expect(due - ended).toBeLessThanOrEqual(15 * 60 + 5);
    expect(entriesOf(w.world, 'crm-missed-1')[0]?.body.call_status).toBe(6);
    await w.call({ id: 'crm-callback-1', users: [202] }, true, { duration: 30 });
    await w.world.stack.crm.drain();
    expect(task?.body.is_completed).toBe(true);
    expect(w.world.kommo.written.tasks.length - before).toBe(1);
  });

  it('an answered call that began before the missed one does not complete its task, even in the same batch', async () => {
    const before = w.world.kommo.written.tasks.length;
    const now = Date.now() + w.world.time.offsetMs;
    const earlier = { id: 'crm-earlier-answered', users: [202] };
    const missed = { id: 'crm-missed-2', users: [202] };
    // The answered call began two minutes ago and is still on when the missed one rings and gives up; it
    // ends after, and the worker sees both at once.
    await w.send(w.event('call.ringing', earlier, { startedAt: new Date(now - 120_000).toISOString() }));
    await w.send(w.event('call.answered', earlier, { startedAt: new Date(now - 120_000).toISOString() }));
    await w.call(missed, false, { startedAt: new Date(now - 60_000).toISOString() });
    await w.send(w.event('call.ended', earlier, { outcome: 'answered', duration: 110 }));
    await w.world.stack.crm.drain();
    const tasks = w.world.kommo.written.tasks.slice(before);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.body.is_completed).not.toBe(true);
    // A call that begins after it does complete it.
    await w.call({ id: 'crm-callback-2', users: [202] }, true, { duration: 30 });
    await w.world.stack.crm.drain();
    expect(tasks[0]?.body.is_completed).toBe(true);
  });

  it('a ringing call no tab saw rings Kommo’s bell once; one a tab showed (and acked) does not', async () => {
    const spec = { id: 'crm-bell-1', users: [202] };
    await w.send(w.event('call.ringing', spec));
    await w.send(w.event('call.ringing', spec), 'same-webhook');
    await w.send(w.event('call.ringing', spec), 'same-webhook');
    await w.world.stack.crm.drain();
    const bells = () => w.world.kommo.written.events.filter((e) => e.body.phone_number === KNOWN);
    expect(bells()).toHaveLength(1);
    expect(bells()[0]?.body).toMatchObject({ type: 'phone_call', users: [202] });
    const { TestSocket } = await import('../helpers/stack');
    const ticket = await fetch(`${w.world.stack.url}/tickets`, {
      method: 'POST',
      headers: { 'x-auth-token': await w.world.widgetToken(202) },
    });
    const { url } = (await ticket.json()) as { url: string };
    const socket = await TestSocket.open(url);
    await w.send(w.event('call.ringing', { id: 'crm-bell-2', users: [202] }));
    const pushed = await socket.next('call', (m) => m.view.call.id === 'crm-bell-2');
    socket.send({ action: 'ack', callId: 'crm-bell-2', seq: pushed.seq });
    await expect.poll(() => w.world.stack.acks.ackedUsers('acme', 'crm-bell-2')).toEqual([202]);
    // Past the acknowledgement window (test/crm/bell.test.ts has the cases around it).
    await sleep(BELL_ACK_SECONDS * 1000 + 300);
    await w.world.stack.crm.drain();
    expect(bells()).toHaveLength(1);
    socket.close();
  });

  it('admins read and change the settings; agents cannot; bad input changes nothing', async () => {
    expect((await settingsApi(202, false)).status).toBe(403);
    const read = await settingsApi(201, true);
    expect(read.status).toBe(200);
    expect(read.body.settings).toMatchObject({ leads: true, tasks: true, bell: true, taskDelayMinutes: 15 });
    const bad = await settingsApi(201, true, 'PUT', { taskDelayMinutes: -1 });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('taskDelayMinutes');
    expect((await settingsApi(201, true)).body.settings).toEqual(read.body.settings);
    const changed = await settingsApi(201, true, 'PUT', {
      leads: false,
      taskDelayMinutes: 30,
      sourceName: 'Acme PBX',
    });
    expect(changed.status).toBe(200);
    expect(changed.body.settings).toMatchObject({
      leads: false,
      taskDelayMinutes: 30,
      sourceName: 'Acme PBX',
    });
    // Leads off: an unknown caller's call leaves no lead (Kommo drops it), and its task has nowhere to go.
    await w.call({ id: 'crm-unknown-off', from: '+1 555 000 2222' }, false);
    await w.call({ id: 'crm-source', users: [202] }, true);
    await w.world.stack.crm.drain();
    expect(
      w.world.kommo.written.unsorted.filter(
        (u) => (u.body.metadata as Record<string, unknown>).uniq === 'crm-unknown-off',
      ),
    ).toHaveLength(0);
    expect(entriesOf(w.world, 'crm-source')[0]?.body.source).toBe('Acme PBX');
    await settingsApi(201, true, 'PUT', { leads: true, taskDelayMinutes: 15, sourceName: 'Callbridge' });
  });

  it('an answer lost after Kommo applied the entry: never sent again, shown to the admins', async () => {
    const { stack } = w.world;
    await w.call({ id: 'crm-lost-answer', users: [202] }, true);
    // Kommo applies the POST, but its answer never arrives (the client times out).
    const losing = makeCrmWorkerHandler({
      ...stack.crm.workerDeps,
      client: {
        request: (async (accountId: number, method: string, path: string, request: object = {}) => {
          const res = await stack.crm.workerDeps.client.request(accountId, method, path, request);
          if (path === '/api/v4/calls') throw new KommoError('timeout', 'POST /api/v4/calls: no answer');
          return res;
        }) as CrmWorkerDeps['client']['request'],
      },
    });
    await stack.crm.pollWith(losing);
    expect(entriesOf(w.world, 'crm-lost-answer')).toHaveLength(1);
    // Replays and the queue's next attempts do not send it again.
    await stack.crm.queue.send([{ kind: 'log', subdomain: 'acme', callId: 'crm-lost-answer' }]);
    await stack.crm.drain();
    expect(entriesOf(w.world, 'crm-lost-answer')).toHaveLength(1);
    const read = await settingsApi(201, true);
    expect(read.body.failures).toMatchObject({ count: 1, reason: 'Kommo did not answer in time' });
  });

  it('a 500 from Kommo is retried by the queue and the call logged once', async () => {
    await w.call({ id: 'crm-500', users: [202] }, true);
    w.world.kommo.faults.api500 = 1;
    await w.world.stack.crm.drain();
    expect(entriesOf(w.world, 'crm-500')).toHaveLength(0);
    // Back after the visibility timeout.
    const message = (await w.world.stack.crm.queue.peek()).find(
      (m) => m.body.includes('crm-500') && JSON.parse(m.body).kind === 'log',
    );
    expect(message?.receives).toBe(1);
    // After its visibility timeout the queue hands it out again (time moved for the queue and back).
    const { time } = w.world;
    time.offsetMs += w.world.stack.crm.queue.options.visibilityMs;
    try {
      await w.world.stack.crm.drain();
    } finally {
      time.offsetMs -= w.world.stack.crm.queue.options.visibilityMs;
    }
    expect(entriesOf(w.world, 'crm-500')).toHaveLength(1);
  });

  it('a revoked token keeps the calls in the queue and tells the admins', async () => {
    w.world.kommo.revokeAccount(30_001);
    await w.call({ id: 'crm-revoked-1' }, true);
    await w.call({ id: 'crm-revoked-2' }, true);
    await w.world.stack.crm.drain();
    const read = await settingsApi(201, true);
    // The two calls, and the one whose answer was lost above (the line keeps the latest reason).
    expect(read.body.failures).toMatchObject({
      count: 3,
      message: '3 calls could not be logged: token revoked',
    });
    // The two calls' log jobs wait for the next attempt (beside them, their ringing's delayed bell checks).
    const logJobs = (await w.world.stack.crm.queue.peek()).filter(
      (m) => !m.dead && JSON.parse(m.body).kind === 'log',
    );
    expect(logJobs.map((m) => JSON.parse(m.body).callId).sort()).toEqual(['crm-revoked-1', 'crm-revoked-2']);
    expect(entriesOf(w.world, 'crm-revoked-1')).toHaveLength(0);
  });
});
