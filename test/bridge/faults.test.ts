/**
 * What must not lose a call event: Callbridge down for minutes, the bridge killed with SIGKILL mid-call, the AMI
 * session cut mid-call; and what must fail clearly: a wrong AMI secret, malformed AMI frames.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge } from '../../bridge/asterisk/bridge';
import { readConfig } from '../../bridge/asterisk/config';
import { startTestStack, type TestSocket, type TestStack } from '../helpers/stack';
import { ScriptedAmi } from './ami-server';
import {
  AGENTS,
  AMI_SECRET,
  AMI_USER,
  agentMap,
  bridgeEnv,
  captureLogger,
  dataDir,
  expectedPushes,
  perCall,
  pushesOf,
  Relay,
  removeDataDirs,
  summaries,
  waitUntil,
} from './harness';
import { ManualScheduler } from './manual-scheduler';
import { type ExpectedEvent, SCENARIOS, withSystemName } from './scenarios';
import { type Frame, loadTranscript } from './transcript';

let t: TestStack;
let relay: Relay;
let ami: ScriptedAmi;
let secret: string;

const CACOFONISK_ENV = { BRIDGE_TRUNKS: 'voipgrid-siproute-docker', BRIDGE_INBOUND_CONTEXTS: 'voipgrid_in' };

beforeAll(async () => {
  t = await startTestStack();
  await t.stack.state.putAgentMap('acme', agentMap(), 1, Date.now());
  secret = t.acme.webhookSecrets[0]?.secret ?? '';
  relay = new Relay(t.stack.url);
  await relay.start();
  ami = new ScriptedAmi({ username: AMI_USER, secret: AMI_SECRET });
  await ami.start();
});
afterAll(async () => {
  removeDataDirs();
  await ami.stop();
  await relay.stop();
  await t.stop();
});

let runs = 0;
/** A recorded call replayed as a new call (its own Linkedids), on a PBX with no other call in progress. */
const scenario = (name: string) => {
  const s = SCENARIOS[name];
  if (!s) throw new Error(`no scenario ${name}`);
  const systemName = `f${++runs}-`;
  ami.channels.clear();
  return {
    ...s,
    expected: withSystemName(s.expected, systemName),
    frames: () => loadTranscript(s.file, systemName),
  };
};

const logins = () => ami.logins.filter((l) => l.ok).length;

const nth = (predicate: (frame: Frame) => boolean, n: number) => {
  let seen = 0;
  return (frame: Frame) => predicate(frame) && ++seen === n;
};

/** Split a transcript at the first frame matching `predicate` (that frame goes to the first part). */
const splitAt = (frames: Frame[], predicate: (frame: Frame) => boolean): [Frame[], Frame[]] => {
  const at = frames.findIndex(predicate);
  if (at < 0) throw new Error('split point not found');
  return [frames.slice(0, at + 1), frames.slice(at + 1)];
};
const has = (key: string, value: string) => (frame: Frame) =>
  frame.some(([k, v]) => k === key && v === value);

const connectAgents = async (expected: readonly ExpectedEvent[]) => {
  const sockets = new Map<string, TestSocket>();
  for (const ext of new Set(expected.flatMap((e) => e.agents)))
    sockets.set(ext, await t.connect(AGENTS[ext] ?? 0));
  return sockets;
};

/** Every agent saw each push once, in order per call. */
const expectSockets = async (sockets: Map<string, TestSocket>, expected: readonly ExpectedEvent[]) => {
  const pushes = expectedPushes(expected);
  const grouped = (list: string[]) => perCall(list.map((push) => ({ id: push.split(' ')[0] ?? '', push })));
  for (const [ext, socket] of sockets) {
    const want = pushes.get(AGENTS[ext] ?? 0) ?? [];
    await waitUntil(() => pushesOf(socket.messages).length >= want.length, 5000, `pushes to ${ext}`);
    await new Promise((r) => setTimeout(r, 50));
    expect(grouped(pushesOf(socket.messages)), `agent ${ext}`).toEqual(grouped(want));
  }
};

describe('Callbridge unreachable for five minutes during three calls', () => {
  it('keeps every event on disk, retries with growing delays, then delivers all of them once, in order', async () => {
    const calls = ['queue', 'ring group, second member answers', 'busy'].map(scenario);
    const expected = calls.flatMap((c) => c.expected);
    const sockets = await connectAgents(expected);
    const scheduler = new ManualScheduler(Date.now());
    const { logger, lines } = captureLogger();
    const before = relay.accepted().length;
    const deliveriesBefore = relay.deliveries.length;
    const attemptsBefore = relay.attempts.length;
    relay.down = true;
    const bridge = await startBridge(
      readConfig({
        ...bridgeEnv(relay.url, ami.port, dataDir(), {
          ...CACOFONISK_ENV,
          BRIDGE_RING_BATCH_MS: '1000',
          // The production defaults: 1 s doubling to a 60 s cap.
          BRIDGE_RETRY_BASE_MS: '1000',
          BRIDGE_RETRY_MAX_MS: '60000',
        }),
        CALLBRIDGE_WEBHOOK_SECRET: secret,
      }),
      { logger, scheduler, pingIntervalMs: 0 },
    );
    const settle = async () => {
      await new Promise((r) => setImmediate(r));
      while (bridge.delivery.inFlightCount > 0) await new Promise((r) => setTimeout(r, 2));
    };
    try {
      await ami.waitForLogin(logins() + 1);
      await waitUntil(() => bridge.ami.status.connected, 5000, 'AMI session');
      for (const call of calls) ami.play(call.frames());
      await waitUntil(() => bridge.outbox.depth === expected.length, 5000, 'all events in the outbox');
      // Five minutes of virtual time with Callbridge down.
      await scheduler.advance(5 * 60_000, settle);
      expect(relay.accepted().length).toBe(before);
      expect(bridge.outbox.depth).toBe(expected.length);
      const report = bridge.health();
      expect(report.status).toBe('degraded');
      expect(report.outbox.depth).toBe(expected.length);
      expect(report.outbox.oldestAgeSeconds).toBeGreaterThanOrEqual(300);
      expect(report.problems.join(' ')).toMatch(/oldest undelivered event is \d+ s old/);
      // Backoff, not hammering: each call's head was tried about a dozen times in five minutes (delays drawn
      // from the upper half of 1, 2, 4 … 60 s), and each wait was at least half its doubling ceiling.
      const tries = relay.attempts.slice(attemptsBefore);
      const perKey = perCall(tries.map((a) => ({ id: a.id.replace(/^ami\.(.*)\.[a-z-0-9]+$/, '$1') })));
      expect(Object.keys(perKey)).toHaveLength(3);
      for (const list of Object.values(perKey)) {
        expect(list.length).toBeGreaterThanOrEqual(8);
        expect(list.length).toBeLessThanOrEqual(18);
      }
      const waits = lines.filter((l) => l.message === 'call event not delivered; will retry');
      for (const w of waits) {
        const ceiling = Math.min(60_000, 1000 * 2 ** (Number(w.fields.attempt) - 1));
        expect(Number(w.fields.retryInMs)).toBeGreaterThanOrEqual(ceiling / 2);
        expect(Number(w.fields.retryInMs)).toBeLessThanOrEqual(ceiling);
      }
      expect(Math.max(...waits.map((w) => Number(w.fields.retryInMs)))).toBeGreaterThan(30_000);

      relay.down = false;
      await scheduler.advance(61_000, settle);
      await waitUntil(() => bridge.outbox.depth === 0, 5000, 'outbox drained');
      const mine = relay.accepted().slice(before);
      expect(perCall(summaries(mine))).toEqual(perCall(expected));
      // Once: Callbridge answered 2xx to each webhook-id exactly once, and accepted each (none ignored).
      expect(relay.deliveries.length - deliveriesBefore).toBe(expected.length);
      expect(mine.every((d) => d.result.status === 'accepted')).toBe(true);
      await expectSockets(sockets, expected);
      expect(bridge.health().status).toBe('ok');
    } finally {
      relay.down = false;
      await bridge.stop();
      for (const s of sockets.values()) s.close();
    }
  });
});

describe('kill -9 mid-call', () => {
  const spawnBridge = (env: Record<string, string>): ChildProcess =>
    spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../../bridge/asterisk/main.ts')], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('a restarted bridge delivers what was stored and follows the call to its end, each event once', async () => {
    const call = scenario('ring group, second member answers');
    const sockets = await connectAgents(call.expected);
    const dir = dataDir();
    const env = { ...bridgeEnv(relay.url, ami.port, dir, CACOFONISK_ENV), CALLBRIDGE_WEBHOOK_SECRET: secret };
    const before = relay.accepted().length;
    const deliveriesBefore = relay.deliveries.length;
    // Both members ringing | (bridge dead) the second answers and is bridged | the call goes on and ends.
    const [ringing, rest] = splitAt(call.frames(), has('DestChannel', 'SIP/150010002-0000000e'));
    const [answering, ending] = splitAt(rest, nth(has('Event', 'BridgeEnter'), 3));
    relay.down = true;
    let child = spawnBridge(env);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += String(d);
    });
    try {
      await ami.waitForLogin(logins() + 1, 15_000);
      await waitUntil(() => ami.loggedInSessions > 0, 5000, 'session');
      await new Promise((r) => setTimeout(r, 100));
      ami.play(ringing);
      // The pop-up is on disk, waiting for Callbridge, when the process is killed.
      await waitUntil(
        () => readdirSync(join(dir, 'outbox')).filter((f) => f.endsWith('.json')).length === 1,
        5000,
        'ringing stored',
      );
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      // While it is dead the member answers: the PBX moves on, the bridge hears nothing of it.
      ami.play(answering);
      relay.down = false;
      child = spawnBridge(env);
      child.stderr?.on('data', (d) => {
        stderr += String(d);
      });
      await ami.waitForLogin(logins() + 1, 15_000);
      // Stored ringing delivered; the answer learned from CoreShowChannels.
      await relay.waitFor(before + 2, 10_000);
      ami.play(ending);
      const all = await relay.waitFor(before + call.expected.length, 10_000);
      const mine = all.slice(before);
      expect(summaries(mine)).toEqual(call.expected);
      expect(relay.deliveries.length - deliveriesBefore).toBe(call.expected.length);
      await expectSockets(sockets, call.expected);
      expect(stderr).toBe('');
    } finally {
      relay.down = false;
      child.kill('SIGKILL');
      for (const s of sockets.values()) s.close();
    }
  }, 60_000);
});

describe('AMI connection cut mid-call', () => {
  it('reconnects, resynchronises with CoreShowChannels and finishes the call', async () => {
    const call = scenario('queue');
    const sockets = await connectAgents(call.expected);
    const { logger, lines } = captureLogger();
    const before = relay.accepted().length;
    const bridge = await startBridge(
      readConfig({
        ...bridgeEnv(relay.url, ami.port, dataDir(), CACOFONISK_ENV),
        CALLBRIDGE_WEBHOOK_SECRET: secret,
      }),
      { logger },
    );
    try {
      await ami.waitForLogin(logins() + 1);
      await waitUntil(() => bridge.ami.status.connected, 5000, 'AMI session');
      const [ringing, rest] = splitAt(call.frames(), has('DialStatus', 'BUSY'));
      const [answering, ending] = splitAt(rest, has('Event', 'BridgeEnter'));
      ami.play(ringing);
      await relay.waitFor(before + 1);
      const count = logins();
      ami.dropClients();
      ami.play(answering); // happens while the bridge is disconnected
      await ami.waitForLogin(count + 1);
      await waitUntil(
        () => lines.filter((l) => l.message === 'resynchronised with CoreShowChannels').length === 2,
        5000,
        'resync',
      );
      ami.play(ending);
      const mine = (await relay.waitFor(before + call.expected.length)).slice(before);
      expect(summaries(mine)).toEqual(call.expected);
      await expectSockets(sockets, call.expected);
      expect(bridge.ami.status.reconnects).toBeGreaterThanOrEqual(1);
      expect(bridge.health().ami.connected).toBe(true);
    } finally {
      await bridge.stop();
      for (const s of sockets.values()) s.close();
    }
  });
});

describe('wrong AMI secret', () => {
  it('says so clearly, stays up, and retries with growing delays', async () => {
    const { logger, lines } = captureLogger();
    const wrong = 'not-the-secret-0451';
    const failedBefore = ami.logins.filter((l) => !l.ok).length;
    const bridge = await startBridge(
      readConfig({
        ...bridgeEnv(relay.url, ami.port, dataDir(), {
          AMI_RECONNECT_BASE_MS: '40',
          AMI_RECONNECT_MAX_MS: '320',
        }),
        AMI_SECRET: wrong,
        CALLBRIDGE_WEBHOOK_SECRET: secret,
      }),
      { logger },
    );
    try {
      await waitUntil(
        () => ami.logins.filter((l) => !l.ok).length >= failedBefore + 6,
        10_000,
        'six refused logins',
      );
      const refused = ami.logins.filter((l) => !l.ok).slice(failedBefore);
      const gaps = refused.slice(1).map((l, i) => l.at - (refused[i]?.at ?? 0));
      // 40 ms doubling (drawn from the upper half) to a 320 ms cap: later gaps are longer than the first.
      expect(gaps[0] ?? 0).toBeLessThan(200);
      expect(Math.max(...gaps.slice(3))).toBeGreaterThanOrEqual(160);
      const errors = lines.filter((l) => l.level === 'error');
      expect(errors.length).toBeGreaterThanOrEqual(5);
      expect(String(errors[0]?.fields.reason)).toMatch(/Authentication failed.*AMI_USERNAME and AMI_SECRET/);
      const report = bridge.health();
      expect(report.status).toBe('degraded');
      expect(report.ami.connected).toBe(false);
      expect(report.problems[0]).toMatch(/AMI not connected: AMI login refused \(Authentication failed\)/);
      expect(JSON.stringify(lines)).not.toContain(wrong);
    } finally {
      await bridge.stop();
    }
  });
});

describe('malformed AMI frames', () => {
  it('are skipped and logged without their content; the call around them is followed to the end', async () => {
    const call = scenario('inbound answered');
    const sockets = await connectAgents(call.expected);
    const { logger, lines } = captureLogger();
    const before = relay.accepted().length;
    const bridge = await startBridge(
      readConfig({ ...bridgeEnv(relay.url, ami.port, dataDir()), CALLBRIDGE_WEBHOOK_SECRET: secret }),
      { logger },
    );
    try {
      await ami.waitForLogin(logins() + 1);
      await waitUntil(() => bridge.ami.status.connected, 5000, 'AMI session');
      const [start, rest] = splitAt(call.frames(), has('Event', 'DialBegin'));
      ami.play(start);
      ami.sendRaw('Event: DialBegin\r\nChannel: PJSIP/21-0000001b\r\nCallerIDNum: +15551234567\r\n\r\n');
      ami.sendRaw('Event: Hangup\r\nChannel: PJSIP/1986-0000001c\r\nUniqueid: \r\nLinkedid: \r\n\r\n');
      ami.sendRaw('this is not an AMI header line\r\n\u0000\u0001\u00ff: \r\n\r\n');
      ami.sendRaw(`Event: Newchannel\r\nChannel: ${'X'.repeat(70_000)}\r\n\r\n`);
      ami.sendRaw(
        'Event: BridgeEnter\r\nUniqueid: 1770888534.44\r\nLinkedid: 1770888534.43\r\nChannel: x\r\n\r\n',
      );
      ami.play(rest);
      const mine = (await relay.waitFor(before + call.expected.length)).slice(before);
      expect(summaries(mine)).toEqual(call.expected);
      await expectSockets(sockets, call.expected);
      const skipped = lines.filter((l) => l.message === 'skipped malformed AMI frame');
      expect(skipped.map((l) => l.fields.event)).toEqual(
        expect.arrayContaining(['DialBegin', 'Hangup', 'BridgeEnter']),
      );
      expect(bridge.health().malformedAmiFrames).toBeGreaterThanOrEqual(3);
      expect(bridge.ami.status.connected).toBe(true);
      // Frames carry phone numbers: the log names the event and the rule, never the content.
      expect(JSON.stringify(lines)).not.toContain('+15551234567');
    } finally {
      await bridge.stop();
      for (const s of sockets.values()) s.close();
    }
  });
});

describe('periodic resync', () => {
  it('ends a call whose hangups never reached the bridge, so no pop-up is left ringing', async () => {
    const call = scenario('missed');
    const sockets = await connectAgents(call.expected);
    const { logger } = captureLogger();
    const before = relay.accepted().length;
    const bridge = await startBridge(
      readConfig({
        ...bridgeEnv(relay.url, ami.port, dataDir(), { BRIDGE_RESYNC_INTERVAL_MS: '150' }),
        CALLBRIDGE_WEBHOOK_SECRET: secret,
      }),
      { logger },
    );
    try {
      await ami.waitForLogin(logins() + 1);
      await waitUntil(() => bridge.ami.status.connected, 5000, 'AMI session');
      const [ringing] = splitAt(call.frames(), has('Event', 'DialState'));
      ami.play(ringing);
      await relay.waitFor(before + 1);
      // The caller gives up, but the Hangup events are lost (a buggy module, a dropped packet on a remote AMI).
      ami.channels.clear();
      const mine = (await relay.waitFor(before + call.expected.length)).slice(before);
      expect(summaries(mine)).toEqual(call.expected);
      await expectSockets(sockets, call.expected);
      expect(bridge.tracker.activeCalls).toBe(0);
    } finally {
      await bridge.stop();
      for (const s of sockets.values()) s.close();
    }
  });
});

describe('AMI user without the reporting class', () => {
  it('says which manager.conf line is missing, and still follows live calls', async () => {
    const restricted = new ScriptedAmi({
      username: AMI_USER,
      secret: AMI_SECRET,
      write: ['call', 'originate'],
    });
    await restricted.start();
    const s = SCENARIOS['inbound answered'];
    if (!s) throw new Error('scenario missing');
    const expected = withSystemName(s.expected, 'perm-');
    const { logger, lines } = captureLogger();
    const before = relay.accepted().length;
    const bridge = await startBridge(
      readConfig({ ...bridgeEnv(relay.url, restricted.port, dataDir()), CALLBRIDGE_WEBHOOK_SECRET: secret }),
      { logger },
    );
    try {
      await restricted.waitForLogin(1);
      await waitUntil(() => bridge.health().problems.length > 0, 5000, 'refusal noticed');
      expect(bridge.health().problems).toEqual([
        'CoreShowChannels refused (Permission denied): give the AMI user "write = reporting" in manager.conf',
      ]);
      expect(lines.some((l) => l.level === 'error' && /write = reporting/.test(l.message))).toBe(true);
      restricted.play(loadTranscript(s.file, 'perm-'));
      const mine = (await relay.waitFor(before + expected.length)).slice(before);
      expect(summaries(mine)).toEqual(expected);
    } finally {
      await bridge.stop();
      await restricted.stop();
    }
  });
});
