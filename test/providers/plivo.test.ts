import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plivo } from './fixtures/plivo';
import { CREDENTIALS, lastView, type ProviderStack, settle, startProviderStack, statesOf } from './harness';
import { plivoSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

const FORM = 'application/x-www-form-urlencoded';
let n = 0;
const unique = () => `${Date.now().toString(16)}-aaaa-4bbb-8ccc-${(++n).toString().padStart(12, '0')}`;
const send = (body: string, headers = plivoSign(CREDENTIALS.plivo.authToken, t.url('plivo'), body)) =>
  t.post(t.url('plivo'), body, headers, FORM);

describe('Plivo voice callbacks', () => {
  it('carries a whole call: ring_url, the <Dial> answer naming the SIP agent, hangup_url', async () => {
    const [alice, other] = await Promise.all([t.connect(8), t.connect(9)]);
    const call = unique();
    for (const body of [
      plivo.ring(call),
      plivo.dialAnswer(call, unique()),
      plivo.hangup(call, 'completed', 'NORMAL_CLEARING', '42'),
    ]) {
      const res = await send(body);
      expect(res.status).toBe(200);
      expect(res.json().status).toBe('accepted');
    }
    await alice.next('call', (m) => m.view.call.id === call && m.view.state === 'ended');
    expect(statesOf(alice, call)).toEqual(['ringing', 'answered', 'ended']);
    expect(lastView(alice, call)?.call).toMatchObject({
      direction: 'inbound',
      from: '918035735900',
      to: '919494865411',
      outcome: 'answered',
      duration: 42,
      endedAt: '2024-10-25T14:14:24.000Z',
    });
    // Ringing went to everyone (ring_url names no agent); the state machine keeps telling everyone it told.
    await settle();
    expect(statesOf(other, call)).toEqual(['ringing', 'answered', 'ended']);
    alice.close();
    other.close();
  });

  it('ends a no-answer call as missed and a busy one as busy', async () => {
    const socket = await t.connect(7);
    const missed = unique();
    const busy = unique();
    await send(plivo.ring(missed));
    await send(plivo.hangup(missed, 'no-answer', 'NO_ANSWER', '0'));
    await send(plivo.ring(busy));
    await send(plivo.hangup(busy, 'busy', 'USER_BUSY', '0'));
    await socket.next('call', (m) => m.view.call.id === busy && m.view.state === 'ended');
    expect(lastView(socket, missed)?.call.outcome).toBe('missed');
    expect(lastView(socket, busy)?.call.outcome).toBe('busy');
    socket.close();
  });

  it('ignores the answer_url request, pushes a retry once and keeps an ended call ended', async () => {
    const socket = await t.connect(7);
    const call = unique();
    const startApp = await send(plivo.startApp(call));
    expect(startApp.json()).toMatchObject({ status: 'ignored' });
    await send(plivo.ring(call));
    const retry = await send(plivo.ring(call)); // a retry is signed with a fresh nonce
    expect(retry.json()).toMatchObject({ duplicate: true });
    await send(plivo.hangup(call, 'completed', 'NORMAL_CLEARING', '5'));
    const late = await send(plivo.dialAnswer(call, unique()));
    expect(late.json()).toMatchObject({ status: 'ignored', state: 'ended' });
    await settle();
    expect(statesOf(socket, call)).toEqual(['ringing', 'ended']);
    socket.close();
  });

  it('refuses a tampered body, another token, a reused signature with another nonce and no signature', async () => {
    const socket = await t.connect(7);
    const call = unique();
    const body = plivo.ring(call);
    const before = await t.items();
    const signed = plivoSign(CREDENTIALS.plivo.authToken, t.url('plivo'), body);
    const attempts = [
      await send(body.replace('918035735900', '918035735901'), signed),
      await send(body, plivoSign('QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MjQy', t.url('plivo'), body)),
      await send(body, { ...signed, 'x-plivo-signature-v3-nonce': '12345' }),
      await send(body, {}),
    ];
    expect(attempts.map((r) => [r.status, r.json().code])).toEqual([
      [401, 'bad_signature'],
      [401, 'bad_signature'],
      [401, 'bad_signature'],
      [401, 'missing_headers'],
    ]);
    expect(await t.items()).toEqual(before);
    await settle();
    expect(statesOf(socket, call)).toEqual([]);
    socket.close();
  });
});
