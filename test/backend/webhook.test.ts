import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { newWebhookSecret } from '../../lambdas/core/webhook-signature';
import { callEvent, sleep, startTestStack, type TestStack } from '../helpers/stack';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
  await t.stack.state.putAgentMap('acme', { '7': '101', '8': '102' }, 1, Date.now());
});
afterAll(() => t.stop());

describe('POST /webhooks/{subdomain}', () => {
  it('pushes a ringing call to the sockets of the agent whose extension rings, and only those', async () => {
    const [agent7, agent7b, agent8] = await Promise.all([t.connect(7), t.connect(7), t.connect(8)]);
    const event = callEvent('call.ringing', { extensions: ['101'] });
    const res = await t.webhook(event);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      status: 'accepted',
      callId: event.call.id,
      state: 'ringing',
      sockets: 2,
      users: 1,
    });
    for (const socket of [agent7, agent7b]) {
      const message = await socket.next('call', (m) => m.view.call.id === event.call.id);
      expect(message.view).toMatchObject({ state: 'ringing', call: { from: '+15551234567' } });
      expect(message.seq).toBeGreaterThan(0);
    }
    await sleep(100);
    expect(agent8.count('call')).toBe(0);
    for (const s of [agent7, agent7b, agent8]) s.close();
  });

  it('gives every message of a user a strictly increasing seq', async () => {
    const socket = await t.connect(8);
    const seqs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const e = callEvent('call.ringing', { users: [8] });
      await t.webhook(e);
      seqs.push((await socket.next('call', (m) => m.view.call.id === e.call.id)).seq);
    }
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(4);
    socket.close();
  });

  it('answers a repeated webhook-id with the first result and pushes nothing again', async () => {
    const socket = await t.connect(7);
    const event = callEvent('call.ringing', { users: [7] });
    const first = await t.webhook(event, { id: 'msg_dedupe_1' });
    await socket.next('call', (m) => m.view.call.id === event.call.id);
    const again = await t.webhook(event, { id: 'msg_dedupe_1' });
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
    // Remembered for a day: most of a sender's retries (re-signed, same id) come within hours.
    const claim = await t.stack.dynamo.send(
      new GetItemCommand({
        TableName: LOCAL_TABLES.state,
        Key: { pk: { S: 'A#acme#W#msg_dedupe_1' }, sk: { S: 'W' } },
      }),
    );
    expect(Number(claim.Item?.ttl?.N) * 1000).toBeGreaterThanOrEqual(Date.now() + 23 * 3600_000);
    await sleep(150);
    expect(socket.messages.filter((m) => m.type === 'call' && m.view.call.id === event.call.id)).toHaveLength(
      1,
    );
    socket.close();
  });

  it('records a late ringing after ended as ignored and does not push it', async () => {
    const socket = await t.connect(7);
    const id = `late-${Date.now()}`;
    await t.webhook(callEvent('call.ringing', { id, users: [7] }));
    await t.webhook(callEvent('call.ended', { id, users: [7] }));
    await socket.next('call', (m) => m.view.call.id === id && m.view.state === 'ended');
    const late = await t.webhook(callEvent('call.ringing', { id, users: [7] }));
    expect(late.status).toBe(202);
    expect(late.body).toMatchObject({ status: 'ignored', state: 'ended', sockets: 0 });
    expect(late.body.reason).toContain('arrived late');
    await sleep(150);
    const states = socket.messages.flatMap((m) =>
      m.type === 'call' && m.view.call.id === id ? [m.view.state] : [],
    );
    expect(states).toEqual(['ringing', 'ended']);
    expect(await t.stack.state.getCall('acme', id)).toMatchObject({ state: 'ended' });
    socket.close();
  });

  it('rings every agent of the account when agents is absent', async () => {
    const [a, b, stranger] = await Promise.all([t.connect(7), t.connect(31), t.connect(7, t.globex)]);
    const event = callEvent('call.ringing', { everyone: true });
    const res = await t.webhook(event);
    expect(res.body).toMatchObject({ status: 'accepted', sockets: 2 });
    await a.next('call', (m) => m.view.call.id === event.call.id);
    await b.next('call', (m) => m.view.call.id === event.call.id);
    await sleep(100);
    expect(stranger.count('call')).toBe(0);
    for (const s of [a, b, stranger]) s.close();
  });

  it('follows a call to the users already told even when a later event narrows agents', async () => {
    const [a, b] = await Promise.all([t.connect(7), t.connect(8)]);
    const id = `narrow-${Date.now()}`;
    await t.webhook(callEvent('call.ringing', { id, extensions: ['101', '102'] }));
    await t.webhook(callEvent('call.answered', { id, extensions: ['101'] }));
    await a.next('call', (m) => m.view.call.id === id && m.view.state === 'answered');
    await b.next('call', (m) => m.view.call.id === id && m.view.state === 'answered');
    a.close();
    b.close();
  });

  it('adds a recording that arrives after the end to the call, for the users of the call only', async () => {
    const [agent7, agent8] = await Promise.all([t.connect(7), t.connect(8)]);
    const event = callEvent('call.ringing', { extensions: ['101'] });
    await t.webhook(event);
    await t.webhook(callEvent('call.ended', { id: event.call.id, extensions: ['101'] }));
    const recording = {
      version: 1,
      type: 'call.recording',
      call: { id: event.call.id, recordingUrl: 'https://pbx.example/recordings/1.mp3' },
      occurredAt: new Date().toISOString(),
    };
    const res = await t.webhook(recording as unknown as Parameters<typeof t.webhook>[0]);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'accepted', state: 'ended', users: 1 });
    const update = await agent7.next('call', (m) => m.view.call.recordingUrl !== undefined);
    expect(update.view).toMatchObject({ state: 'ended', call: { from: '+15551234567', outcome: 'missed' } });
    await sleep(100);
    expect(agent8.count('call')).toBe(0);
    // A recording for a call nobody told us of changes nothing.
    const unknown = await t.webhook({
      ...recording,
      call: { ...recording.call, id: 'no-such-call' },
    } as unknown as Parameters<typeof t.webhook>[0]);
    expect(unknown.body).toMatchObject({ status: 'ignored' });
    agent7.close();
    agent8.close();
  });

  it('reports extensions nobody holds', async () => {
    const res = await t.webhook(callEvent('call.ringing', { extensions: ['555'] }));
    expect(res.body).toMatchObject({
      status: 'accepted',
      users: 0,
      sockets: 0,
      unmatchedExtensions: ['555'],
    });
  });

  it('accepts a signature made with the previous secret during a rotation', async () => {
    const account = await t.stack.accounts.getAccount('acme');
    if (!account) throw new Error('acme missing');
    const fresh = newWebhookSecret();
    const old = account.webhookSecrets[0]?.secret ?? '';
    await t.stack.accounts.putAccount({
      ...account,
      webhookSecrets: [
        { secret: fresh, createdAt: Date.now() },
        { secret: old, createdAt: 0, expiresAt: Date.now() + 60_000 },
      ],
    });
    expect((await t.webhook(callEvent('call.ringing', { users: [] }), { secret: fresh })).status).toBe(202);
    expect((await t.webhook(callEvent('call.ringing', { users: [] }), { secret: old })).status).toBe(202);
    await t.stack.accounts.putAccount({
      ...account,
      webhookSecrets: [
        { secret: fresh, createdAt: Date.now() },
        { secret: old, createdAt: 0, expiresAt: Date.now() - 1 },
      ],
    });
    expect((await t.webhook(callEvent('call.ringing', { users: [] }), { secret: old })).status).toBe(401);
    await t.stack.accounts.putAccount(account);
  });
});
