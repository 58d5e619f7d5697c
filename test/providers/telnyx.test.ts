import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telnyx, texml } from './fixtures/telnyx';
import { lastView, type ProviderStack, settle, startProviderStack, statesOf } from './harness';
import { telnyxSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

let n = 0;
const unique = (tag: string) => `${tag}-${Date.now()}-${++n}`;
const send = (body: string, headers = telnyxSign(t.telnyxPrivateKey, body)) =>
  t.post(t.url('telnyx'), body, headers, 'application/json');

/** A SIP leg to the agent "alice": Telnyx names the credential in the SIP URI. */
const toAlice = { to: 'sip:alice@sip.telnyx.com' };

describe('Telnyx Call Control webhooks', () => {
  it('carries a whole call to the SIP agent it rings, and acknowledges the later recording', async () => {
    const [alice, other] = await Promise.all([t.connect(8), t.connect(9)]);
    const session = unique('session');
    const events = [
      telnyx.initiated(unique('ev'), session, toAlice),
      telnyx.answered(unique('ev'), session, toAlice),
      telnyx.hangup(unique('ev'), session, {
        ...toAlice,
        hangup_cause: 'normal_clearing',
        hangup_source: 'callee',
      }),
    ];
    for (const body of events) {
      const res = await send(body);
      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({ status: 'accepted', callId: session });
    }
    await alice.next('call', (m) => m.view.call.id === session && m.view.state === 'ended');
    expect(statesOf(alice, session)).toEqual(['ringing', 'answered', 'ended']);
    expect(lastView(alice, session)?.call).toMatchObject({
      direction: 'inbound',
      from: '+35319605860',
      to: 'sip:alice@sip.telnyx.com',
      outcome: 'answered',
      answeredAt: '2018-02-02T22:20:35.521Z',
      endedAt: '2018-02-02T22:25:27.521Z',
      duration: 292,
    });
    // call.recording.saved comes after the hangup: attached to the call, for its agent only.
    // Telnyx serves recordings over https (the documented example's http link would be dropped).
    const recording = await send(
      telnyx.recordingSaved(unique('ev'), session).replaceAll('http://example.com', 'https://example.com'),
    );
    expect(recording.status).toBe(200);
    await alice.next('call', (m) => m.view.call.id === session && m.view.call.recordingUrl !== undefined);
    await settle();
    expect(statesOf(alice, session)).toEqual(['ringing', 'answered', 'ended', 'ended']);
    expect(statesOf(other, session)).toEqual([]);
    alice.close();
    other.close();
  });

  it('ends the documented rejected call as missed and a user_busy hangup as busy', async () => {
    const socket = await t.connect(8);
    const rejected = unique('session');
    const busy = unique('session');
    await send(telnyx.initiated(unique('ev'), rejected, toAlice));
    await send(telnyx.hangup(unique('ev'), rejected, toAlice)); // documented example: call_rejected, 603
    await send(telnyx.initiated(unique('ev'), busy, toAlice));
    await send(telnyx.hangup(unique('ev'), busy, { ...toAlice, hangup_cause: 'user_busy' }));
    await socket.next('call', (m) => m.view.call.id === busy && m.view.state === 'ended');
    expect(lastView(socket, rejected)?.call.outcome).toBe('missed');
    expect(lastView(socket, busy)?.call.outcome).toBe('busy');
    socket.close();
  });

  it('pushes a redelivered event once and ignores events that arrive after the hangup', async () => {
    const socket = await t.connect(8);
    const session = unique('session');
    const ringing = telnyx.initiated(unique('ev'), session, toAlice);
    const first = await send(ringing);
    const again = await send(ringing); // same event id, freshly signed: Telnyx's retry
    expect(again.json()).toMatchObject({ ...first.json(), duplicate: true });
    await send(telnyx.hangup(unique('ev'), session, toAlice));
    const lateAnswer = await send(telnyx.answered(unique('ev'), session, toAlice));
    const lateRinging = await send(telnyx.initiated(unique('ev'), session, toAlice));
    expect(lateAnswer.json()).toMatchObject({ status: 'ignored', state: 'ended' });
    expect(lateRinging.json()).toMatchObject({ status: 'ignored', state: 'ended' });
    await settle();
    expect(statesOf(socket, session)).toEqual(['ringing', 'ended']);
    socket.close();
  });

  it('takes TeXML status callbacks (form-encoded, Twilio-compatible, same Ed25519 signature)', async () => {
    const [a, b] = await Promise.all([t.connect(7), t.connect(9)]);
    const callSid = `v3:${unique('texml')}`;
    for (const body of [texml.initiated(callSid), texml.answered(callSid), texml.completed(callSid)]) {
      const res = await t.post(
        t.url('telnyx'),
        body,
        telnyxSign(t.telnyxPrivateKey, body),
        'application/x-www-form-urlencoded',
      );
      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({ status: 'accepted', callId: callSid });
    }
    for (const socket of [a, b]) {
      await socket.next('call', (m) => m.view.call.id === callSid && m.view.state === 'ended');
      expect(statesOf(socket, callSid)).toEqual(['ringing', 'answered', 'ended']);
      expect(lastView(socket, callSid)?.call).toMatchObject({
        from: '+35319605860',
        to: '+13129457420',
        outcome: 'answered',
        duration: 2,
        startedAt: '2024-01-15T10:30:00.000Z',
        endedAt: '2021-04-28T21:51:18.731Z',
      });
    }
    const tampered = texml.initiated(`v3:${unique('texml')}`);
    const refused = await t.post(
      t.url('telnyx'),
      tampered.replace('initiated', 'completed'),
      telnyxSign(t.telnyxPrivateKey, tampered),
      'application/x-www-form-urlencoded',
    );
    expect(refused.status).toBe(401);
    a.close();
    b.close();
  });

  it('refuses a tampered body, another key, a stale or future timestamp and a missing signature, changing nothing', async () => {
    const socket = await t.connect(8);
    const session = unique('session');
    const body = telnyx.initiated(unique('ev'), session, toAlice);
    const before = await t.items();
    const other = generateKeyPairSync('ed25519').privateKey;
    const now = Math.floor(Date.now() / 1000);
    const attempts = [
      await send(body.replace('+35319605860', '+35319605861'), telnyxSign(t.telnyxPrivateKey, body)),
      await send(body, telnyxSign(other, body)),
      await send(body, telnyxSign(t.telnyxPrivateKey, body, now - 330)),
      await send(body, telnyxSign(t.telnyxPrivateKey, body, now + 330)),
      await send(body, {}),
    ];
    expect(attempts.map((r) => [r.status, r.json().code])).toEqual([
      [401, 'bad_signature'],
      [401, 'bad_signature'],
      [401, 'bad_timestamp'],
      [401, 'bad_timestamp'],
      [401, 'missing_headers'],
    ]);
    expect(await t.items()).toEqual(before);
    await settle();
    expect(statesOf(socket, session)).toEqual([]);
    socket.close();
  });
});
