import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vonage } from './fixtures/vonage';
import { CREDENTIALS, lastView, type ProviderStack, settle, startProviderStack, statesOf } from './harness';
import { vonageSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

let n = 0;
const unique = (tag: string) => `${tag}-${Date.now()}-${++n}`;
const send = async (body: string, headers?: Record<string, string>) =>
  t.post(
    t.url('vonage'),
    body,
    headers ?? (await vonageSign(CREDENTIALS.vonage.signatureSecret, body)),
    'application/json',
  );

/** An `alg: none` token with correct claims: what a forger without the secret could send. */
const unsigned = (body: string) => {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = {
    iat: Math.floor(Date.now() / 1000),
    payload_hash: createHash('sha256').update(body).digest('hex'),
  };
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.x`;
};

describe('Vonage Voice event webhooks', () => {
  it('carries a whole call to every agent (plain numbers name no agent) and acknowledges the recording', async () => {
    const [a, b] = await Promise.all([t.connect(7), t.connect(9)]);
    const conversation = unique('CON');
    const leg = unique('leg');
    for (const body of [
      vonage.started(leg, conversation),
      vonage.ringing(leg, conversation),
      vonage.answered(leg, conversation),
      vonage.completed(leg, conversation),
    ]) {
      const res = await send(body);
      expect(res.status).toBe(200);
    }
    for (const socket of [a, b]) {
      await socket.next('call', (m) => m.view.call.id === conversation && m.view.state === 'ended');
      expect(statesOf(socket, conversation)).toEqual(['ringing', 'answered', 'ended']);
      expect(lastView(socket, conversation)?.call).toMatchObject({
        direction: 'inbound',
        from: '447700900000',
        to: '447700900001',
        outcome: 'answered',
        duration: 2,
      });
    }
    // The recording webhook comes after the call: it is attached to it.
    const recording = await send(vonage.recording(conversation));
    expect(recording.status).toBe(200);
    await a.next('call', (m) => m.view.call.id === conversation && m.view.call.recordingUrl !== undefined);
    expect(statesOf(a, conversation)).toEqual(['ringing', 'answered', 'ended', 'ended']);
    a.close();
    b.close();
  });

  it('rings the app user a call is sent to', async () => {
    const alice = await t.connect(8);
    const conversation = unique('CON');
    await send(vonage.ringing(unique('leg'), conversation, { to: 'sip:alice@example.vonage.com' }));
    await alice.next('call', (m) => m.view.call.id === conversation);
    alice.close();
  });

  it('ends an unanswered call as missed and a busy one as busy', async () => {
    const socket = await t.connect(7);
    const missed = unique('CON');
    const busy = unique('CON');
    await send(vonage.ringing(unique('leg'), missed));
    await send(vonage.unanswered(unique('leg'), missed));
    await send(vonage.busy(unique('leg'), busy));
    await socket.next('call', (m) => m.view.call.id === busy && m.view.state === 'ended');
    await socket.next('call', (m) => m.view.call.id === missed && m.view.state === 'ended');
    expect(lastView(socket, missed)?.call.outcome).toBe('missed');
    expect(lastView(socket, busy)?.call).toMatchObject({ outcome: 'busy', direction: 'outbound' });
    socket.close();
  });

  it('pushes a retried event once and never re-opens a completed call', async () => {
    const socket = await t.connect(7);
    const conversation = unique('CON');
    const leg = unique('leg');
    const ringing = vonage.ringing(leg, conversation);
    await send(ringing);
    const retry = await send(ringing);
    expect(retry.json()).toMatchObject({ duplicate: true });
    await send(vonage.completed(leg, conversation));
    const late = await send(vonage.answered(leg, conversation));
    expect(late.json()).toMatchObject({ status: 'ignored', state: 'ended' });
    await settle();
    expect(statesOf(socket, conversation)).toEqual(['ringing', 'ended']);
    socket.close();
  });

  it('refuses a tampered body, another secret, an old iat, no payload_hash and no token, changing nothing', async () => {
    const socket = await t.connect(7);
    const conversation = unique('CON');
    const body = vonage.ringing(unique('leg'), conversation);
    const secret = CREDENTIALS.vonage.signatureSecret;
    const before = await t.items();
    const attempts = [
      await send(body.replace('447700900000', '447700900009'), await vonageSign(secret, body)),
      await send(body, await vonageSign('another-signature-secret-000000', body)),
      await send(body, await vonageSign(secret, body, { iat: Math.floor(Date.now() / 1000) - 600 })),
      await send(body, await vonageSign(secret, body, { payloadHash: null })),
      await send(body, {}),
      await send(body, await vonageSign(secret, body, { iat: Math.floor(Date.now() / 1000) + 600 })),
      await send(body, { authorization: `Bearer ${unsigned(body)}` }),
    ];
    expect(attempts.map((r) => [r.status, r.json().code])).toEqual([
      [401, 'bad_signature'],
      [401, 'bad_signature'],
      [401, 'bad_timestamp'],
      [401, 'bad_signature'],
      [401, 'missing_headers'],
      [401, 'bad_timestamp'],
      [401, 'bad_signature'],
    ]);
    expect(await t.items()).toEqual(before);
    await settle();
    expect(statesOf(socket, conversation)).toEqual([]);
    socket.close();
  });
});
