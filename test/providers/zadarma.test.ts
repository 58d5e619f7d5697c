import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zadarma } from './fixtures/zadarma';
import { CREDENTIALS, lastView, type ProviderStack, settle, startProviderStack, statesOf } from './harness';
import { zadarmaSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

const FORM = 'application/x-www-form-urlencoded';
let n = 0;
const unique = () => `in_${Date.now().toString(16)}${(++n).toString(16).padStart(4, '0')}`;
const send = (body: string, headers = zadarmaSign(CREDENTIALS.zadarma.apiSecret, body)) =>
  t.post(t.url('zadarma'), body, headers, FORM);

describe('Zadarma PBX notifications', () => {
  it('carries a whole call to the extension that rings, and acknowledges NOTIFY_RECORD', async () => {
    const [ext101, ext102] = await Promise.all([t.connect(7), t.connect(9)]);
    const call = unique();
    const start = await send(zadarma.start(call));
    expect(start.status).toBe(200);
    expect(start.text).toBe('');
    for (const body of [zadarma.internal(call), zadarma.answer(call), zadarma.end(call, 'answered', '37')]) {
      expect((await send(body)).status).toBe(200);
    }
    await ext101.next('call', (m) => m.view.call.id === call && m.view.state === 'ended');
    expect(statesOf(ext101, call)).toEqual(['ringing', 'answered', 'ended']);
    expect(lastView(ext101, call)?.call).toMatchObject({
      direction: 'inbound',
      from: '79161234567',
      to: '74951234567',
      outcome: 'answered',
      duration: 37,
    });
    expect((await send(zadarma.record(call))).status).toBe(200);
    await settle();
    expect(statesOf(ext101, call)).toEqual(['ringing', 'answered', 'ended']);
    expect(statesOf(ext102, call)).toEqual([]);
    ext101.close();
    ext102.close();
  });

  it('accepts the TypeScript SDK encoding too, and carries an outgoing call from an extension', async () => {
    const socket = await t.connect(9);
    const call = unique().replace('in_', 'out_');
    for (const body of [zadarma.outStart(call, '102'), zadarma.outEnd(call, 'answered', '12', '102')]) {
      expect((await send(body, zadarmaSign(CREDENTIALS.zadarma.apiSecret, body, 'ts'))).status).toBe(200);
    }
    await socket.next('call', (m) => m.view.call.id === call && m.view.state === 'ended');
    // The first event (OUT_START: extension 102 dials out) fixes who called whom; the end only adds facts.
    expect(lastView(socket, call)?.call).toMatchObject({
      direction: 'outbound',
      from: '102',
      to: '79169876543',
      duration: 12,
    });
    socket.close();
  });

  it('ends a no-answer call as missed and a busy one as busy', async () => {
    const socket = await t.connect(7);
    const missed = unique();
    const busy = unique();
    await send(zadarma.internal(missed));
    await send(zadarma.end(missed, 'no answer', '0'));
    await send(zadarma.internal(busy));
    await send(zadarma.end(busy, 'busy', '0'));
    await socket.next('call', (m) => m.view.call.id === busy && m.view.state === 'ended');
    expect(lastView(socket, missed)?.call.outcome).toBe('missed');
    expect(lastView(socket, busy)?.call.outcome).toBe('busy');
    socket.close();
  });

  it('de-duplicates on the natural key and keeps an ended call ended', async () => {
    const socket = await t.connect(7);
    const call = unique();
    await send(zadarma.internal(call));
    const before = await t.items({ exceptSeq: true });
    const replay = await send(zadarma.internal(call)); // Zadarma signs no time: a replay looks like a retry
    expect(replay.status).toBe(200);
    expect(await t.items({ exceptSeq: true })).toEqual(before);
    await send(zadarma.end(call, 'cancel', '0'));
    await send(zadarma.answer(call));
    await settle();
    expect(statesOf(socket, call)).toEqual(['ringing', 'ended']);
    expect(lastView(socket, call)?.call.outcome).toBe('missed');
    socket.close();
  });

  it('refuses a missing Signature (unlike its TypeScript SDK), a wrong secret and a changed signed field', async () => {
    const socket = await t.connect(7);
    const call = unique();
    const body = zadarma.internal(call);
    const before = await t.items();
    const attempts = [
      await send(body, {}),
      await send(body, zadarmaSign('0000000000aaaaaaaaaa', body)),
      await send(
        body.replace('79161234567', '79161234568'),
        zadarmaSign(CREDENTIALS.zadarma.apiSecret, body),
      ),
    ];
    expect(attempts.map((r) => [r.status, r.json().code])).toEqual([
      [401, 'missing_headers'],
      [401, 'bad_signature'],
      [401, 'bad_signature'],
    ]);
    expect(await t.items()).toEqual(before);
    await settle();
    expect(statesOf(socket, call)).toEqual([]);
    socket.close();
  });

  it('answers the zd_echo URL check as plain text, only for an account that connected Zadarma', async () => {
    const echo = await fetch(`${t.url('zadarma')}?zd_echo=f1e2d3c4b5a6`);
    expect(echo.status).toBe(200);
    expect(echo.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await echo.text()).toBe('f1e2d3c4b5a6');
    const markup = await fetch(`${t.url('zadarma')}?zd_echo=${encodeURIComponent('<script>')}`);
    expect(markup.status).toBe(400);
    const notConnected = await fetch(`${t.url('zadarma', 'globex')}?zd_echo=abc`);
    expect(notConnected.status).toBe(404);
    expect(await notConnected.text()).toContain('not connected');
  });
});
