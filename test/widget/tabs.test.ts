// @vitest-environment happy-dom
/**
 * One connection per agent across tabs: election, relay, one pop-up, hand-over, errors once, and the
 * fallback without Web Locks, with fakes of navigator.locks and BroadcastChannel and a scripted socket.
 */
import { type Clock, createClock } from '@sinonjs/fake-timers';
import { Window } from 'happy-dom';
import { beforeEach, describe, expect, it } from 'vitest';
import { CallbridgeRuntime, OUTAGE_ERROR_AFTER_MS, POPUP_ACK_MS } from '../../widget/src/runtime';
import { fakeKommo } from '../helpers/kommo';
import { ScriptedSocket } from '../helpers/scripted-socket';
import { FakeBrowser, MemoryStorage } from '../helpers/tabs';

let clock: Clock;
let browser: FakeBrowser;
let storage: MemoryStorage;
let ticketsFail = false;

beforeEach(() => {
  ScriptedSocket.all = [];
  clock = createClock(1_000_000);
  browser = new FakeBrowser();
  storage = new MemoryStorage();
  ticketsFail = false;
});

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

const openTab = (name: string, opts: { fallback?: boolean } = {}) => {
  const kommo = fakeKommo({ subdomain: 'acme', clientSecret: 'x'.repeat(20), integrationId: 'i', userId: 7 });
  kommo.self.$authorizedAjax = () =>
    ticketsFail
      ? Promise.reject({ status: 0 })
      : Promise.resolve({ url: `wss://example.test/prod?ticket=${name}` });
  const window = new Window({ url: 'https://acme.kommo.com/leads' }) as unknown as globalThis.Window;
  const runtime = new CallbridgeRuntime({
    self: kommo.self,
    app: kommo.app,
    window,
    fetch: async () => new Response(null, { status: 204 }),
    bakedApiUrl: 'https://api.example.test',
    version: 'test',
    WebSocket: ScriptedSocket,
    timers: { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, now: () => clock.now },
    random: () => 0,
    locks: opts.fallback ? null : browser.locksFor(name),
    BroadcastChannel: opts.fallback ? null : browser.channelFor(name),
    storage,
    tabId: name,
  });
  runtime.start();
  return { name, runtime, kommo, window };
};

const ringing = (seq: number, id = `c${seq}`, state = 'ringing', extra = {}) => ({
  v: 1,
  type: 'call',
  seq,
  view: {
    state,
    call: { id, direction: 'inbound', from: '+15551234567', to: '101', ...extra },
    occurredAt: '2026-11-21T10:00:00Z',
  },
});

const openLeaderSocket = async () => {
  await flush();
  const socket = ScriptedSocket.all.at(-1);
  socket?.open();
  await flush();
  return socket;
};

type Tab = ReturnType<typeof openTab>;
const total = (tabs: Tab[], what: 'calls' | 'errors') =>
  tabs.reduce((n, t) => n + t.kommo.recorded[what].length, 0);

describe('tabs of one agent', () => {
  it('elect one leader, which alone opens a socket', async () => {
    const tabs = ['a', 'b', 'c'].map((n) => openTab(n));
    await flush();
    expect(tabs.map((t) => t.runtime.role)).toEqual(['leader', 'follower', 'follower']);
    expect(ScriptedSocket.all).toHaveLength(1);
    expect(tabs[0]?.window.document.documentElement.dataset.callbridgeRole).toBe('leader');
  });

  it('raise one add_call per call state in total, and set the reload guard in every tab', async () => {
    const tabs = ['a', 'b', 'c'].map((n) => openTab(n));
    const socket = await openLeaderSocket();
    socket?.receive(ringing(1));
    await flush();
    expect(total(tabs, 'calls')).toBe(1);
    for (const t of tabs) expect(t.kommo.recorded.callingStatus).toEqual([true]);
    socket?.receive(ringing(1)); // a repeat
    socket?.receive(ringing(2, 'c1', 'ended', { outcome: 'missed' }));
    await flush();
    expect(total(tabs, 'calls')).toBe(2); // the pop-up and one missed-call entry
    for (const t of tabs) expect(t.kommo.recorded.callingStatus).toEqual([true, false]);
    clock.tick(POPUP_ACK_MS * 2);
    await flush();
    expect(total(tabs, 'calls')).toBe(2);
  });

  it('show the pop-up in the tab the agent focused last', async () => {
    const tabs = ['a', 'b', 'c'].map((n) => openTab(n));
    const socket = await openLeaderSocket();
    tabs[1]?.window.dispatchEvent(new Event('focus'));
    clock.tick(10);
    tabs[2]?.window.dispatchEvent(new Event('focus'));
    await flush();
    socket?.receive(ringing(1));
    await flush();
    expect(tabs.map((t) => t.kommo.recorded.calls.length)).toEqual([0, 0, 1]);
  });

  it('fall back to the leader when the focused tab vanished without a word', async () => {
    const tabs = ['a', 'b'].map((n) => openTab(n));
    const socket = await openLeaderSocket();
    tabs[1]?.window.dispatchEvent(new Event('focus'));
    await flush();
    browser.crash('b');
    socket?.receive(ringing(1));
    await flush();
    expect(total(tabs, 'calls')).toBe(0);
    clock.tick(POPUP_ACK_MS);
    await flush();
    expect(tabs[0]?.kommo.recorded.calls).toHaveLength(1);
  });

  it('hand over when the leader crashes: the next tab connects and resumes from the last seq any tab saw', async () => {
    const tabs = ['a', 'b', 'c'].map((n) => openTab(n));
    const first = await openLeaderSocket();
    first?.receive(ringing(41, 'c41', 'answered'));
    await flush();
    browser.crash('a');
    await flush();
    expect(tabs[1]?.runtime.role).toBe('leader');
    expect(ScriptedSocket.all).toHaveLength(2);
    const second = await openLeaderSocket();
    expect(JSON.parse(second?.sent[0] ?? '{}')).toEqual({ action: 'resume', after: 41 });
    // A call that rang during the hand-over arrives in the replay: once, in one tab.
    second?.receive(ringing(42));
    second?.receive({ v: 1, type: 'snapshot', seq: 42, calls: [ringing(42).view] });
    await flush();
    expect(total(tabs.slice(1), 'calls')).toBe(1);
    for (const t of tabs.slice(1)) expect(t.kommo.recorded.callingStatus.at(-1)).toBe(true);
  });

  it('let a tab opened later learn the active calls and what was already shown', async () => {
    const [a] = [openTab('a')];
    const socket = await openLeaderSocket();
    socket?.receive(ringing(1));
    await flush();
    const late = openTab('late');
    await flush();
    expect(late.kommo.recorded.callingStatus).toEqual([true]);
    browser.crash('a');
    await flush();
    const next = await openLeaderSocket();
    next?.receive({ v: 1, type: 'snapshot', seq: 1, calls: [ringing(1).view] });
    await flush();
    expect((a?.kommo.recorded.calls.length ?? 0) + late.kommo.recorded.calls.length).toBe(1);
  });

  it('raise one add_error for an outage, not one per tab', async () => {
    const tabs = ['a', 'b', 'c'].map((n) => openTab(n));
    const socket = await openLeaderSocket();
    ticketsFail = true;
    socket?.drop();
    for (let s = 0; s < OUTAGE_ERROR_AFTER_MS / 1000 + 30; s++) {
      clock.tick(1000);
      await flush();
    }
    expect(total(tabs, 'errors')).toBe(1);
    expect(tabs[0]?.kommo.recorded.errors).toHaveLength(1);
  });
});

describe('without Web Locks or BroadcastChannel', () => {
  it('each tab keeps its own socket, and pop-ups and errors still happen once through localStorage', async () => {
    const tabs = ['a', 'b', 'c'].map((n) => openTab(n, { fallback: true }));
    await flush();
    expect(tabs.map((t) => t.runtime.role)).toEqual(['solo', 'solo', 'solo']);
    expect(ScriptedSocket.all).toHaveLength(3);
    for (const socket of ScriptedSocket.all) socket.open();
    await flush();
    for (const socket of ScriptedSocket.all) socket.receive(ringing(1));
    await flush();
    expect(total(tabs, 'calls')).toBe(1);
    for (const t of tabs) expect(t.kommo.recorded.callingStatus).toEqual([true]);
    ticketsFail = true;
    for (const socket of ScriptedSocket.all) socket.drop();
    for (let s = 0; s < OUTAGE_ERROR_AFTER_MS / 1000 + 30; s++) {
      clock.tick(1000);
      await flush();
    }
    expect(total(tabs, 'errors')).toBe(1);
  });
});
