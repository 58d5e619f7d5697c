/**
 * Each recorded call, end to end: the scripted PBX replays the transcript over a real AMI socket, the bridge
 * follows it and posts signed events to the real local Callbridge, and the agents' real sockets show the result.
 */
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
  popupsOf,
  pushesOf,
  Relay,
  removeDataDirs,
  summaries,
  waitUntil,
} from './harness';
import { SCENARIOS } from './scenarios';
import { type Frame, loadTranscript } from './transcript';

let t: TestStack;
let relay: Relay;
let ami: ScriptedAmi;
let secret: string;

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

/** Pop-ups the widget shows for a scenario: one per inbound call per rung agent, plus missed-call notes. */
const EXPECTED_POPUPS: Record<string, Record<string, string[]>> = {
  'inbound answered': { '1986': ['1770888534.43 popup'] },
  missed: { '21': ['1770888559.46 popup', '1770888559.46 missed'] },
  'ring group, nobody answers': Object.fromEntries(
    ['11', '12', '21', '41', '42', '51'].map((ext) => [ext, ['1770888635.49 popup', '1770888635.49 missed']]),
  ),
  busy: { '150010002': ['195176c06ab8-1529936241.98 popup'] },
  'ring group, second member answers': {
    '150010002': ['195176c06ab8-1529936598.168 popup'],
    '150010003': ['195176c06ab8-1529936598.168 popup'],
  },
  queue: {
    '150010002': ['195176c06ab8-1529939196.518 popup'],
    '150010003': ['195176c06ab8-1529939196.518 popup'],
  },
  'blind transfer': {
    '150010002': ['07b796be1962-1529998959.65 popup'],
    '150010003': ['07b796be1962-1529998959.65:t1 popup'],
  },
  'attended transfer': {
    '150010002': ['195176c06ab8-1529941338.663 popup'],
    '150010003': ['195176c06ab8-1529941342.690 popup'],
  },
  outbound: { '150010001': ['195176c06ab8-1529936734.297 popup'], '260010001': [] },
};

describe('recorded calls through the bridge to agents’ sockets', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(name, async () => {
      const extensions = [...new Set(scenario.expected.flatMap((e) => e.agents))];
      const sockets = new Map<string, TestSocket>();
      for (const ext of extensions) sockets.set(ext, await t.connect(AGENTS[ext] ?? 0));
      const before = relay.accepted().length;
      const { logger, lines } = captureLogger();
      const bridge = await startBridge(
        readConfig({
          ...bridgeEnv(relay.url, ami.port, dataDir()),
          CALLBRIDGE_WEBHOOK_SECRET: secret,
          ...scenario.env,
        }),
        { logger },
      );
      try {
        await ami.waitForLogin(ami.logins.filter((l) => l.ok).length + 1);
        await waitUntil(() => bridge.ami.status.connected, 5000, 'resync');
        ami.play(loadTranscript(scenario.file));
        const all = await relay.waitFor(before + scenario.expected.length);
        await bridge.drained();
        const mine = all.slice(before);
        // Exactly the expected events, each accepted (not ignored as late or duplicate) by Callbridge.
        expect(perCall(summaries(mine))).toEqual(perCall(scenario.expected));
        expect(mine.map((d) => d.result.status)).toEqual(mine.map(() => 'accepted'));

        const pushes = expectedPushes(scenario.expected);
        for (const [ext, socket] of sockets) {
          const user = AGENTS[ext] ?? 0;
          const want = pushes.get(user) ?? [];
          await waitUntil(() => pushesOf(socket.messages).length >= want.length, 5000, `pushes to ${ext}`);
          const grouped = (list: string[]) =>
            perCall(list.map((push) => ({ id: push.split(' ')[0] ?? '', push })));
          expect(grouped(pushesOf(socket.messages)), `agent ${ext}`).toEqual(grouped(want));
          expect(popupsOf(socket.messages), `pop-ups of ${ext}`).toEqual(EXPECTED_POPUPS[name]?.[ext] ?? []);
        }
        expect(bridge.outbox.depth).toBe(0);
        expect(bridge.health().status).toBe('ok');
        // Real frames are never mistaken for malformed ones.
        expect(lines.filter((l) => l.level !== 'info')).toEqual([]);
      } finally {
        await bridge.stop();
        for (const socket of sockets.values()) socket.close();
      }
    });
  }
});

describe('recordings', () => {
  it('MixMonitor’s file (VarSet MIXMONITOR_FILENAME, through the AMI library) becomes the recordingUrl', async () => {
    const scenario = SCENARIOS['inbound answered'];
    if (!scenario) throw new Error('scenario missing');
    const before = relay.accepted().length;
    const { logger, lines } = captureLogger();
    const bridge = await startBridge(
      readConfig({
        ...bridgeEnv(relay.url, ami.port, dataDir()),
        CALLBRIDGE_WEBHOOK_SECRET: secret,
        BRIDGE_RECORDING_BASE_URL: 'https://pbx.example.com/recordings',
      }),
      { logger },
    );
    try {
      await ami.waitForLogin(ami.logins.filter((l) => l.ok).length + 1);
      await waitUntil(() => bridge.ami.status.connected, 5000, 'AMI session');
      const frames = loadTranscript(scenario.file, 'rec-');
      const answer = frames.findIndex((f) => f.some(([k, v]) => k === 'DialStatus' && v === 'ANSWER'));
      // What MixMonitor sets when FreePBX starts recording (the transcript was captured without recording).
      const varset: Frame = [
        ['Event', 'VarSet'],
        ['Privilege', 'dialplan,all'],
        ['Channel', 'PJSIP/21-0000001b'],
        ['Uniqueid', 'rec-1770888534.43'],
        ['Linkedid', 'rec-1770888534.43'],
        ['Variable', 'MIXMONITOR_FILENAME'],
        ['Value', '/var/spool/asterisk/monitor/2026/02/12/internal-1986-21-20260212-093534.wav'],
      ];
      ami.play([...frames.slice(0, answer), varset, ...frames.slice(answer)]);
      const mine = (await relay.waitFor(before + 3)).slice(before);
      expect(mine.map((d) => d.event.call.recordingUrl)).toEqual([
        undefined,
        'https://pbx.example.com/recordings/2026/02/12/internal-1986-21-20260212-093534.wav',
        'https://pbx.example.com/recordings/2026/02/12/internal-1986-21-20260212-093534.wav',
      ]);
      expect(lines.filter((l) => l.level !== 'info')).toEqual([]);
    } finally {
      await bridge.stop();
    }
  });
});
