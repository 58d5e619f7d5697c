// @vitest-environment happy-dom
/**
 * Time-dependent rules of the page runtime, on a fake clock with a scripted socket: outage errors once per
 * outage, the reload guard released when the socket has been lost too long or a call went silent.
 */
import { type Clock, createClock } from '@sinonjs/fake-timers';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ACKS_PER_MINUTE,
  CALL_SAFETY_TIMEOUT_MS,
  CALLING_GRACE_MS,
  CallbridgeRuntime,
  OUTAGE_ERROR_AFTER_MS,
} from '../../widget/src/runtime';
import { fakeKommo } from '../helpers/kommo';
import { ScriptedSocket } from '../helpers/scripted-socket';

let clock: Clock;
let ticketsFail = false;

const setup = () => {
  const kommo = fakeKommo({ subdomain: 'acme', clientSecret: 'x'.repeat(20), integrationId: 'i', userId: 7 });
  kommo.self.$authorizedAjax = () =>
    ticketsFail
      ? Promise.reject({ status: 0 })
      : Promise.resolve({ url: 'wss://example.test/prod?ticket=t' });
  const runtime = new CallbridgeRuntime({
    self: kommo.self,
    app: kommo.app,
    window,
    fetch: async () => new Response(null, { status: 204 }),
    bakedApiUrl: 'https://api.example.test',
    version: 'test',
    WebSocket: ScriptedSocket,
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: () => clock.now },
    random: () => 0.5,
  });
  return { runtime, kommo };
};

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const ringing = (id: string, state = 'ringing') => ({
  v: 1,
  type: 'call',
  seq: Number(id.replace(/\D/g, '')) || 1,
  view: {
    state,
    call: { id, direction: 'inbound', from: '+1555', to: '101' },
    occurredAt: '2026-11-21T10:00:00Z',
  },
});

beforeEach(() => {
  localStorage.clear();
  ScriptedSocket.all = [];
  ticketsFail = false;
  clock = createClock(1_000_000);
});

describe('page runtime', () => {
  it('stays silent through a short outage and raises one add_error for a long one', async () => {
    const { runtime, kommo } = setup();
    runtime.start();
    await flush();
    ScriptedSocket.all[0]?.open();
    ticketsFail = true;
    ScriptedSocket.all[0]?.drop();
    for (let s = 0; s < OUTAGE_ERROR_AFTER_MS / 1000 - 5; s++) {
      clock.tick(1000);
      await flush();
    }
    expect(kommo.recorded.errors).toHaveLength(0);
    for (let s = 0; s < 120; s++) {
      clock.tick(1000);
      await flush();
    }
    expect(kommo.recorded.errors).toHaveLength(1);
    expect(kommo.recorded.errors[0]?.text).toContain('down for over a minute');
    // Back up, then down again: a new outage gets its own single error.
    ticketsFail = false;
    runtime.apiUrl();
    for (let s = 0; s < 40 && !ScriptedSocket.all.at(-1)?.onopen; s++) {
      clock.tick(1000);
      await flush();
    }
    ScriptedSocket.all.at(-1)?.open();
    await flush();
    ticketsFail = true;
    ScriptedSocket.all.at(-1)?.drop();
    for (let s = 0; s < 200; s++) {
      clock.tick(1000);
      await flush();
    }
    expect(kommo.recorded.errors).toHaveLength(2);
    runtime.stop();
  });

  it('releases the reload guard when the socket has been lost past the grace period', async () => {
    const { runtime, kommo } = setup();
    runtime.start();
    await flush();
    ScriptedSocket.all[0]?.open();
    ScriptedSocket.all[0]?.receive(ringing('c1', 'answered'));
    await flush();
    expect(kommo.recorded.callingStatus).toEqual([true]);
    ticketsFail = true;
    ScriptedSocket.all[0]?.drop();
    clock.tick(CALLING_GRACE_MS - 5000);
    await flush();
    expect(kommo.recorded.callingStatus).toEqual([true]);
    clock.tick(10_000);
    await flush();
    expect(kommo.recorded.callingStatus).toEqual([true, false]);
    runtime.stop();
  });

  it('releases the reload guard after the safety timeout when a call goes silent', async () => {
    const { runtime, kommo } = setup();
    runtime.start();
    await flush();
    const socket = ScriptedSocket.all[0];
    socket?.open();
    socket?.receive(ringing('c2', 'answered'));
    await flush();
    expect(kommo.recorded.callingStatus).toEqual([true]);
    // Keep the socket healthy (answer every ping at once) while no call update arrives.
    const step = 5_000;
    const runFor = async (ms: number) => {
      for (let elapsed = 0; elapsed < ms; elapsed += step) {
        clock.tick(step);
        await flush();
        const latest = ScriptedSocket.all.at(-1);
        if (latest && latest.readyState === 0) latest.open(); // the 2-hour rollover's replacement
        if (latest?.sent.at(-1)?.includes('ping')) latest.receive({ v: 1, type: 'pong' });
        await flush();
      }
    };
    await runFor(CALL_SAFETY_TIMEOUT_MS - 60_000);
    expect(ScriptedSocket.all).toHaveLength(2); // one rollover at 110 minutes, no reconnects
    expect(runtime.connectionStatus).toBe('open');
    expect(kommo.recorded.callingStatus).toEqual([true]);
    await runFor(120_000);
    expect(kommo.recorded.callingStatus).toEqual([true, false]);
    runtime.stop();
  });

  it('acks each ringing pop-up on its socket once it is shown, within its budget of acks a minute', async () => {
    const { runtime, kommo } = setup();
    runtime.start();
    await flush();
    const socket = ScriptedSocket.all[0];
    socket?.open();
    const acks = () =>
      (socket?.sent ?? []).map((m) => JSON.parse(m)).filter((m) => m.action === 'ack') as {
        callId: string;
        seq: number;
      }[];
    socket?.receive(ringing('c41'));
    await flush();
    expect(kommo.recorded.calls).toHaveLength(1);
    expect(acks()).toEqual([{ action: 'ack', callId: 'c41', seq: 41 }]);
    // The same call again (a redelivery) pops nothing and acks nothing; an answered call pops nothing.
    socket?.receive(ringing('c41'));
    socket?.receive(ringing('c42', 'answered'));
    await flush();
    expect(acks()).toHaveLength(1);
    // A burst of ringing calls: each pops, only ACKS_PER_MINUTE are acked (Kommo's bell rings for the rest).
    for (let i = 50; i < 50 + ACKS_PER_MINUTE + 3; i++) socket?.receive(ringing(`c${i}`));
    await flush();
    expect(kommo.recorded.calls).toHaveLength(1 + ACKS_PER_MINUTE + 3);
    expect(acks()).toHaveLength(ACKS_PER_MINUTE);
    clock.tick(60_000);
    await flush();
    socket?.receive(ringing('c70'));
    await flush();
    expect(acks().at(-1)).toEqual({ action: 'ack', callId: 'c70', seq: 70 });
    runtime.stop();
  });

  it('skips quietly when Kommo has no setCallingStatus', async () => {
    const { runtime, kommo } = setup();
    kommo.app.sdk = {};
    runtime.start();
    await flush();
    ScriptedSocket.all[0]?.open();
    ScriptedSocket.all[0]?.receive(ringing('c3'));
    await flush();
    expect(kommo.recorded.calls).toHaveLength(1);
    runtime.stop();
  });
});
