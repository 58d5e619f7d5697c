import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twilio } from './fixtures/twilio';
import { CREDENTIALS, lastView, type ProviderStack, settle, startProviderStack, statesOf } from './harness';
import { twilioJsonUrl, twilioSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

const FORM = 'application/x-www-form-urlencoded';
const sid = (tag: string) => `CA${tag.padEnd(32, '0').slice(0, 32)}`;
let n = 0;
const uniqueSid = () => sid(`${Date.now().toString(16)}${(++n).toString(16)}`);

const send = (body: string, token = CREDENTIALS.twilio.authToken, headers: Record<string, string> = {}) =>
  t.post(t.url('twilio'), body, { ...twilioSign(token, t.url('twilio'), body), ...headers }, FORM);

describe('Twilio status callbacks', () => {
  it('carries a whole call, ringing → in-progress → completed with its recording, to every agent as states', async () => {
    // The capture is an outbound-api call to a plain number: no agent identity, so it rings everyone.
    const [agent7, agent8] = await Promise.all([t.connect(7), t.connect(8)]);
    const id = uniqueSid();
    for (const body of [twilio.ringing(id), twilio.inProgress(id), twilio.completed(id)]) {
      const res = await send(body);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/xml/);
      expect(res.text).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    }
    for (const socket of [agent7, agent8]) {
      await socket.next('call', (m) => m.view.call.id === id && m.view.state === 'ended');
      expect(statesOf(socket, id)).toEqual(['ringing', 'answered', 'ended']);
      expect(lastView(socket, id)?.call).toMatchObject({
        direction: 'outbound',
        from: '+16466063895',
        to: '+551135892112',
        outcome: 'answered',
        duration: 49,
        recordingUrl:
          'https://api.twilio.com/2010-04-01/Accounts/AC47ebdee5f6d2049fe18cf3ca151ff3a7/Recordings/RE0a1b2c3d4e5f60718293a4b5c6d7e8f9',
        startedAt: '2018-03-25T09:52:21.000Z',
        answeredAt: '2018-03-25T09:52:30.000Z',
        endedAt: '2018-03-25T09:53:19.000Z',
      });
    }
    agent7.close();
    agent8.close();
  });

  it('rings only the agent a <Dial><Client> leg names, under the parent call id', async () => {
    const [alice, other] = await Promise.all([t.connect(8), t.connect(9)]);
    const parent = uniqueSid();
    const child = uniqueSid();
    for (const status of ['ringing', 'in-progress', 'completed']) {
      expect((await send(twilio.clientLeg(parent, child, status))).status).toBe(200);
    }
    await alice.next('call', (m) => m.view.call.id === parent && m.view.state === 'ended');
    expect(statesOf(alice, parent)).toEqual(['ringing', 'answered', 'ended']);
    expect(lastView(alice, parent)?.call).toMatchObject({ direction: 'inbound', to: 'client:alice' });
    await settle();
    expect(statesOf(other, parent)).toEqual([]);
    alice.close();
    other.close();
  });

  it('names the agent of a <Dial><Sip> leg by the SIP URI’s user part', async () => {
    const ext101 = await t.connect(7);
    const parent = uniqueSid();
    const body = new URLSearchParams(twilio.clientLeg(parent, uniqueSid(), 'ringing'));
    body.set('To', 'sip:101@acme.sip.twilio.com;transport=tls');
    expect((await send(body.toString())).status).toBe(200);
    const message = await ext101.next('call', (m) => m.view.call.id === parent);
    expect(message.view.call).toMatchObject({ direction: 'inbound', to: 'sip:101@acme.sip.twilio.com' });
    ext101.close();
  });

  it('rings a group: the caller’s own leg and the cancelled legs never answer or end the call', async () => {
    const alice = await t.connect(8);
    const parent = uniqueSid();
    const inbound = (status: string) => {
      const body = new URLSearchParams(twilio.ringing(parent));
      body.set('Direction', 'inbound');
      body.set('CallStatus', status);
      return body.toString();
    };
    const bobLeg = (status: string) => {
      const body = new URLSearchParams(twilio.clientLeg(parent, `${parent.slice(0, -1)}b`, status));
      body.set('To', 'client:bob');
      return body.toString();
    };
    const replies = [
      await send(inbound('ringing')),
      await send(inbound('in-progress')), // Twilio itself answered to run the TwiML
      await send(twilio.clientLeg(parent, uniqueSid(), 'ringing')),
      await send(bobLeg('ringing')),
      await send(twilio.clientLeg(parent, `${parent.slice(0, -1)}a`, 'in-progress')),
      await send(bobLeg('canceled')), // Twilio cancels the leg that lost
    ];
    for (const reply of replies) expect(reply.status).toBe(200);
    await alice.next('call', (m) => m.view.call.id === parent && m.view.state === 'answered');
    await settle();
    expect(statesOf(alice, parent)).toEqual(['ringing', 'answered']);
    await send(inbound('completed'));
    await alice.next('call', (m) => m.view.call.id === parent && m.view.state === 'ended');
    expect(lastView(alice, parent)?.call.outcome).toBe('answered');
    alice.close();
  });

  it('ends an inbound call nobody answered as missed', async () => {
    const socket = await t.connect(7);
    const id = uniqueSid();
    const inbound = (status: string) => {
      const body = new URLSearchParams(twilio.ringing(id));
      body.set('Direction', 'inbound');
      body.set('CallStatus', status);
      return body.toString();
    };
    await send(inbound('ringing'));
    await send(inbound('in-progress'));
    await send(inbound('completed'));
    await socket.next('call', (m) => m.view.call.id === id && m.view.state === 'ended');
    expect(statesOf(socket, id)).toEqual(['ringing', 'ended']);
    expect(lastView(socket, id)?.call.outcome).toBe('missed');
    socket.close();
  });

  it('ends a no-answer call as missed and a busy call as busy', async () => {
    const socket = await t.connect(7);
    const missed = uniqueSid();
    await send(twilio.ringing(missed));
    await send(twilio.noAnswer(missed));
    const busy = 'CA35c037c9b8bb40c5002e2fe8cbbeecd9';
    await send(twilio.busy(busy));
    await socket.next('call', (m) => m.view.call.id === missed && m.view.state === 'ended');
    await socket.next('call', (m) => m.view.call.id === busy && m.view.state === 'ended');
    expect(lastView(socket, missed)?.call.outcome).toBe('missed');
    expect(lastView(socket, busy)?.call).toMatchObject({ outcome: 'busy', from: '+447412301423' });
    socket.close();
  });

  it('pushes a retried callback once, and a late ringing never re-opens the call', async () => {
    const socket = await t.connect(7);
    const id = uniqueSid();
    await send(twilio.ringing(id));
    const first = await send(twilio.completed(id, false));
    const retry = await send(twilio.completed(id, false));
    const lateAnswer = await send(twilio.inProgress(id));
    const lateRinging = await send(twilio.ringing(id));
    for (const res of [first, retry, lateAnswer, lateRinging]) expect(res.status).toBe(200);
    await socket.next('call', (m) => m.view.call.id === id && m.view.state === 'ended');
    await settle();
    expect(statesOf(socket, id)).toEqual(['ringing', 'ended']);
    expect(await t.stack.state.getCall('acme', id)).toMatchObject({ state: 'ended' });
    socket.close();
  });

  it('treats the same I-Twilio-Idempotency-Token as the same delivery', async () => {
    const socket = await t.connect(7);
    const id = uniqueSid();
    const token = `${id}-idem`;
    await send(twilio.ringing(id), undefined, { 'i-twilio-idempotency-token': token });
    const before = await t.items({ exceptSeq: true });
    await send(twilio.ringing(id), undefined, { 'i-twilio-idempotency-token': token });
    expect(await t.items({ exceptSeq: true })).toEqual(before);
    await settle();
    expect(statesOf(socket, id)).toEqual(['ringing']);
    socket.close();
  });

  it('attaches a recording callback that comes after the end to the call, once', async () => {
    const socket = await t.connect(7);
    const id = uniqueSid();
    await send(twilio.ringing(id));
    await send(twilio.completed(id, false));
    await socket.next('call', (m) => m.view.call.id === id && m.view.state === 'ended');
    expect(lastView(socket, id)?.call.recordingUrl).toBeUndefined();
    const res = await send(twilio.recording(id));
    expect(res.status).toBe(200);
    await socket.next('call', (m) => m.view.call.id === id && m.view.call.recordingUrl !== undefined);
    // The recording adds its URL; what the call already knew (its duration) stays.
    expect(lastView(socket, id)?.call).toMatchObject({
      recordingUrl: expect.stringContaining('/Recordings/'),
      duration: 49,
    });
    // Twilio's retry of the same callback changes nothing more.
    await send(twilio.recording(id));
    await settle();
    expect(statesOf(socket, id)).toEqual(['ringing', 'ended', 'ended']);
    socket.close();
  });

  it('verifies a JSON body through bodySHA256 in the signed URL', async () => {
    const socket = await t.connect(7);
    const id = uniqueSid();
    const body = JSON.stringify(Object.fromEntries(new URLSearchParams(twilio.ringing(id))));
    const url = twilioJsonUrl(t.url('twilio'), body);
    const signed = twilioSign(CREDENTIALS.twilio.authToken, url, '');
    const ok = await t.post(url, body, signed, 'application/json');
    expect(ok.status).toBe(200);
    await socket.next('call', (m) => m.view.call.id === id);
    const altered = body.replace('ringing', 'completed');
    const bad = await t.post(url, altered, signed, 'application/json');
    expect(bad.status).toBe(401);
    expect(bad.json()).toMatchObject({ code: 'bad_signature' });
    socket.close();
  });

  it('refuses a tampered body, a wrong auth token, another URL and no signature, storing and pushing nothing', async () => {
    const socket = await t.connect(7);
    const id = uniqueSid();
    const body = twilio.ringing(id);
    const before = await t.items();
    const signed = twilioSign(CREDENTIALS.twilio.authToken, t.url('twilio'), body);
    const attempts = [
      await t.post(t.url('twilio'), body.replace('ringing', 'completed'), signed, FORM),
      await send(body, 'ffffffffffffffffffffffffffffffff'),
      await t.post(
        t.url('twilio'),
        body,
        twilioSign(CREDENTIALS.twilio.authToken, `${t.url('twilio')}?x=1`, body),
        FORM,
      ),
      await t.post(t.url('twilio'), body, {}, FORM),
    ];
    expect(attempts.map((r) => r.status)).toEqual([401, 401, 401, 401]);
    expect(attempts.map((r) => r.json().code)).toEqual([
      'bad_signature',
      'bad_signature',
      'bad_signature',
      'missing_headers',
    ]);
    for (const res of attempts) {
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.text).not.toContain('16466063895');
    }
    expect(await t.items()).toEqual(before);
    await settle();
    expect(statesOf(socket, id)).toEqual([]);
    socket.close();
  });
});
