import { describe, expect, it } from 'vitest';
import { parseAmiEvent } from '../../bridge/asterisk/ami-events';
import { makeClassifier } from '../../bridge/asterisk/classify';
import { readConfig } from '../../bridge/asterisk/config';
import {
  CallTracker,
  type ChannelSnapshot,
  type Emitted,
  type TrackerState,
} from '../../bridge/asterisk/tracker';
import { parseCallEvent } from '../../lambdas/core/protocol';
import { SCENARIOS, summarise } from './scenarios';
import { type Frame, loadTranscript, toRecord } from './transcript';

const BASE_ENV = {
  AMI_HOST: '127.0.0.1',
  AMI_USERNAME: 'callbridge',
  AMI_SECRET: 'x',
  CALLBRIDGE_WEBHOOK_URL: 'http://127.0.0.1:1/webhooks/acme',
  CALLBRIDGE_WEBHOOK_SECRET: 'whsec_MDEyMzQ1Njc4OWFiY2RlZg==',
  BRIDGE_DATA_DIR: '/tmp/unused',
};

const trackerFor = (env: Record<string, string>, state?: TrackerState, invalid: string[] = []) => {
  const config = readConfig({ ...BASE_ENV, ...env });
  return new CallTracker(
    {
      classifier: makeClassifier(config.classify),
      ringBatchMs: 250,
      ...(config.recording ? { recording: config.recording } : {}),
      onInvalid: (id, problem) => invalid.push(`${id}: ${problem}`),
    },
    state,
  );
};

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

const replay = (tracker: CallTracker, frames: Frame[], start = T0, stepMs = 10) => {
  const out: Emitted[] = [];
  let now = start;
  for (const frame of frames) {
    const parsed = parseAmiEvent(toRecord(frame));
    now += stepMs;
    if (parsed.kind === 'event') out.push(...tracker.handle(parsed.event, now));
  }
  return { out, now };
};

describe('call tracker over recorded AMI transcripts', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: exactly the expected call events`, () => {
      const invalid: string[] = [];
      const tracker = trackerFor(scenario.env, undefined, invalid);
      const { out } = replay(tracker, loadTranscript(scenario.file));
      expect(out.map((e) => summarise(e.event))).toEqual(scenario.expected);
      expect(invalid).toEqual([]);
      for (const e of out) expect(parseCallEvent(e.event).ok).toBe(true);
      expect(new Set(out.map((e) => e.id)).size).toBe(out.length);
      // Nothing is left behind once every channel has hung up.
      expect(tracker.activeCalls).toBe(0);
      expect(tracker.trackedChannels).toBe(0);
    });
  }

  it('gives the same webhook ids when the same call is replayed (so Callbridge can de-duplicate)', () => {
    const frames = loadTranscript('ring-group.ami');
    const first = replay(trackerFor(SCENARIOS.busy?.env ?? {}), frames).out.map((e) => e.id);
    const second = replay(trackerFor(SCENARIOS.busy?.env ?? {}), frames, T0 + 3_600_000, 37).out.map(
      (e) => e.id,
    );
    expect(second).toEqual(first);
  });

  it('times the call: answeredAt, endedAt and duration from the event times', () => {
    const tracker = trackerFor({});
    const { out } = replay(tracker, loadTranscript('inbound-answered.ami'), T0, 1000);
    const ended = out.find((e) => e.event.type === 'call.ended')?.event;
    const answered = out.find((e) => e.event.type === 'call.answered')?.event;
    expect(answered?.call.answeredAt).toBeDefined();
    const expected = Math.round(
      (Date.parse(ended?.call.endedAt ?? '') - Date.parse(answered?.call.answeredAt ?? '')) / 1000,
    );
    expect(ended?.call.duration).toBe(expected);
    expect(expected).toBeGreaterThan(0);
  });

  it('announces a lone ring once ringBatchMs has passed with nothing else happening to the call', () => {
    const tracker = trackerFor({});
    const frames = loadTranscript('inbound-answered.ami');
    const uptoDial = frames.findIndex((f) => f.some(([k, v]) => k === 'Event' && v === 'DialBegin'));
    const { out, now } = replay(tracker, frames.slice(0, uptoDial + 1));
    expect(out).toEqual([]);
    expect(tracker.tick(now + 100)).toEqual([]);
    const ringing = tracker.tick(now + 250);
    expect(ringing.map((e) => summarise(e.event).type)).toEqual(['call.ringing']);
    expect(tracker.tick(now + 600)).toEqual([]);
  });

  it('with timestampevents, call times are Asterisk’s while ring batching runs on the bridge’s clock', () => {
    const tracker = trackerFor({});
    // The PBX clock is 10 minutes ahead of the bridge's.
    const pbx = (T0 + 600_000) / 1000;
    const frames = loadTranscript('inbound-answered.ami').map(
      (frame, i): Frame => [...frame, ['Timestamp', (pbx + i).toFixed(6)]],
    );
    const uptoDial = frames.findIndex((f) => f.some(([k, v]) => k === 'Event' && v === 'DialBegin'));
    replay(tracker, frames.slice(0, uptoDial + 1), T0, 1);
    const ringing = tracker.tick(T0 + uptoDial + 1 + 250);
    expect(ringing.map((e) => e.event.type)).toEqual(['call.ringing']);
    expect(ringing[0]?.event.occurredAt).toBe(new Date((pbx + uptoDial) * 1000).toISOString());
    const rest = replay(tracker, frames.slice(uptoDial + 1), T0 + 1000, 1).out;
    const ended = rest.find((e) => e.event.type === 'call.ended')?.event;
    expect(Date.parse(ended?.call.endedAt ?? '')).toBe((pbx + frames.length - 1) * 1000);
  });

  it('follows only the configured contexts when BRIDGE_CONTEXT_FILTER is set', () => {
    const tracker = trackerFor({ ...SCENARIOS.queue?.env, BRIDGE_CONTEXT_FILTER: 'from-trunk' });
    expect(replay(tracker, loadTranscript('queue.ami')).out).toEqual([]);
    const allowed = trackerFor({ ...SCENARIOS.queue?.env, BRIDGE_CONTEXT_FILTER: 'voipgrid_in' });
    expect(replay(allowed, loadTranscript('queue.ami')).out).toHaveLength(3);
  });

  it('turns a MixMonitor file into a recordingUrl when a base URL is configured', () => {
    const tracker = trackerFor({ BRIDGE_RECORDING_BASE_URL: 'https://pbx.example.com/rec/' });
    const frames = loadTranscript('inbound-answered.ami');
    const answeredAt = frames.findIndex((f) => f.some(([k, v]) => k === 'DialStatus' && v === 'ANSWER'));
    const varset: Frame = [
      ['Event', 'VarSet'],
      ['Channel', 'PJSIP/21-0000001b'],
      ['Uniqueid', '1770888534.43'],
      ['Linkedid', '1770888534.43'],
      ['Variable', 'MIXMONITOR_FILENAME'],
      ['Value', '/var/spool/asterisk/monitor/2026/02/12/internal-1986-21-20260212-093534-1770888534.43.wav'],
    ];
    const { out } = replay(tracker, [...frames.slice(0, answeredAt), varset, ...frames.slice(answeredAt)]);
    const ended = out.find((e) => e.event.type === 'call.ended')?.event;
    expect(ended?.call.recordingUrl).toBe(
      'https://pbx.example.com/rec/2026/02/12/internal-1986-21-20260212-093534-1770888534.43.wav',
    );
  });
});

describe('restart and reconnect', () => {
  const cut = (file: string, predicate: (frame: Frame) => boolean) => {
    const frames = loadTranscript(file);
    const at = frames.findIndex(predicate);
    return { before: frames.slice(0, at + 1), after: frames.slice(at + 1), all: frames };
  };
  const answeredFrame = (f: Frame) => f.some(([k, v]) => k === 'DialStatus' && v === 'ANSWER');

  it('a call that ended while the bridge was away ends on resync, under the id a live run would use', () => {
    const { before, all } = cut('inbound-answered.ami', answeredFrame);
    const live = replay(trackerFor({}), all).out;
    const tracker = trackerFor({});
    replay(tracker, before);
    // The state survives a restart as JSON.
    const restored = trackerFor({}, JSON.parse(JSON.stringify(tracker.snapshot())) as TrackerState);
    const resynced = restored.resync([], T0 + 60_000);
    expect(resynced.map((e) => e.id)).toEqual([live.find((e) => e.event.type === 'call.ended')?.id]);
    expect(resynced[0]?.event.call.outcome).toBe('answered');
    expect(restored.activeCalls).toBe(0);
  });

  it('a call already answered when a fresh bridge connects is adopted from CoreShowChannels', () => {
    const tracker = trackerFor({});
    const channels: ChannelSnapshot[] = [
      {
        channel: 'PJSIP/21-0000001b',
        uniqueid: '1770888534.43',
        linkedid: '1770888534.43',
        calleridnum: '21',
        context: 'macro-dial-one',
        exten: '1986',
        channelstatedesc: 'Up',
        bridgeid: '338ab658-f923-4a56-b1ae-ac35b3f2a76a',
      },
      {
        channel: 'PJSIP/1986-0000001c',
        uniqueid: '1770888534.44',
        linkedid: '1770888534.43',
        calleridnum: '1986',
        context: 'from-internal',
        exten: '',
        channelstatedesc: 'Up',
        bridgeid: '338ab658-f923-4a56-b1ae-ac35b3f2a76a',
      },
    ];
    const adopted = tracker.resync(channels, T0);
    expect(adopted.map((e) => [e.id, summarise(e.event).agents])).toEqual([
      ['ami.1770888534.43.answered', ['1986']],
    ]);
    // The rest of the call, as recorded, then ends it.
    const { after } = cut('inbound-answered.ami', (f) =>
      f.some(([k, v]) => k === 'Event' && v === 'RTCPSent'),
    );
    const rest = replay(tracker, after).out;
    expect(rest.map((e) => [e.id, e.event.call.outcome])).toEqual([['ami.1770888534.43.ended', 'answered']]);
  });

  it('a phone still ringing when the bridge connects gets its pop-up', () => {
    const tracker = trackerFor({});
    const adopted = tracker.resync(
      [
        {
          channel: 'PJSIP/1986-0000001d',
          uniqueid: '1.1',
          linkedid: '1.1',
          calleridnum: '1986',
          context: 'from-internal',
          exten: '21',
          channelstatedesc: 'Ring',
        },
        {
          channel: 'PJSIP/21-0000001f',
          uniqueid: '1.2',
          linkedid: '1.1',
          calleridnum: '21',
          context: 'from-internal',
          exten: '',
          channelstatedesc: 'Ringing',
        },
      ],
      T0,
    );
    expect(adopted.map((e) => summarise(e.event).type)).toEqual(['call.ringing']);
  });
});

describe('queue events (app_queue)', () => {
  // Field sets as the Asterisk 16+ AMI documentation lists them for AgentCalled/AgentConnect/AgentRingNoAnswer;
  // FreePBX queues ring members through Local/<ext>@from-queue channels. (No public raw transcript with
  // these events was found; the queue transcript in fixtures/ is a dialplan queue.)
  const frame = (event: string, fields: Record<string, string>): Frame => [
    ['Event', event],
    ...Object.entries(fields),
  ];
  const caller = {
    Channel: 'PJSIP/trunk-00000001',
    Uniqueid: '9.1',
    Linkedid: '9.1',
    CallerIDNum: '+15551234567',
    Context: 'ext-queues',
    Exten: '400',
  };

  it('rings every member called, connects the one who answers, ends for that one', () => {
    const tracker = trackerFor({});
    const frames: Frame[] = [
      frame('Newchannel', { ...caller, Context: 'from-trunk', Exten: '+15557654321' }),
      frame('Newchannel', {
        Channel: 'Local/101@from-queue-00000001;1',
        Uniqueid: '9.2',
        Linkedid: '9.1',
        Context: 'from-queue',
        Exten: '400',
      }),
      frame('Newchannel', {
        Channel: 'Local/102@from-queue-00000002;1',
        Uniqueid: '9.3',
        Linkedid: '9.1',
        Context: 'from-queue',
        Exten: '400',
      }),
      frame('AgentCalled', {
        ...caller,
        DestChannel: 'Local/101@from-queue-00000001;1',
        DestUniqueid: '9.2',
        DestLinkedid: '9.1',
        Queue: '400',
        Interface: 'Local/101@from-queue/n',
        MemberName: 'Alice',
      }),
      frame('AgentCalled', {
        ...caller,
        DestChannel: 'Local/102@from-queue-00000002;1',
        DestUniqueid: '9.3',
        DestLinkedid: '9.1',
        Queue: '400',
        Interface: 'Local/102@from-queue/n',
        MemberName: 'Bob',
      }),
      frame('AgentRingNoAnswer', {
        ...caller,
        DestChannel: 'Local/101@from-queue-00000001;1',
        DestUniqueid: '9.2',
        DestLinkedid: '9.1',
        Queue: '400',
        Interface: 'Local/101@from-queue/n',
        RingTime: '15',
      }),
      frame('AgentConnect', {
        ...caller,
        DestChannel: 'Local/102@from-queue-00000002;1',
        DestUniqueid: '9.3',
        DestLinkedid: '9.1',
        Queue: '400',
        Interface: 'Local/102@from-queue/n',
        HoldTime: '20',
        RingTime: '5',
      }),
      frame('Hangup', {
        Channel: 'Local/101@from-queue-00000001;1',
        Uniqueid: '9.2',
        Linkedid: '9.1',
        Cause: '26',
      }),
      frame('Hangup', {
        Channel: 'Local/102@from-queue-00000002;1',
        Uniqueid: '9.3',
        Linkedid: '9.1',
        Cause: '16',
      }),
      frame('Hangup', { ...caller, Cause: '16' }),
    ];
    const { out } = replay(tracker, frames);
    expect(out.map((e) => summarise(e.event))).toEqual([
      {
        type: 'call.ringing',
        id: '9.1',
        direction: 'inbound',
        from: '+15551234567',
        to: '+15557654321',
        agents: ['101', '102'],
      },
      {
        type: 'call.answered',
        id: '9.1',
        direction: 'inbound',
        from: '+15551234567',
        to: '+15557654321',
        agents: ['102'],
      },
      {
        type: 'call.ended',
        id: '9.1',
        direction: 'inbound',
        from: '+15551234567',
        to: '+15557654321',
        agents: ['102'],
        outcome: 'answered',
      },
    ]);
  });
});

describe('members rung one after another (linear queue, sequential hunt group)', () => {
  const frame = (event: string, fields: Record<string, string>): Frame => [
    ['Event', event],
    ...Object.entries(fields),
  ];
  const caller = {
    Channel: 'PJSIP/trunk-00000002',
    Uniqueid: '8.1',
    Linkedid: '8.1',
    CallerIDNum: '+15550001111',
    Context: 'ext-queues',
    Exten: '401',
  };
  const member = (ext: string, uid: string) => ({
    ...caller,
    DestChannel: `PJSIP/${ext}-0000000${uid}`,
    DestUniqueid: `8.${uid}`,
    DestLinkedid: '8.1',
    Queue: '401',
    Interface: `PJSIP/${ext}`,
  });

  it('announces each newly rung member in a further call.ringing (ringing-2, …) naming who rings now', () => {
    const tracker = trackerFor({});
    const frames: Frame[] = [
      frame('Newchannel', { ...caller, Context: 'from-trunk', Exten: '+15550002222' }),
      frame('Newchannel', {
        Channel: 'PJSIP/101-00000003',
        Uniqueid: '8.3',
        Linkedid: '8.1',
        Context: 'from-internal',
      }),
      frame('AgentCalled', member('101', '3')),
      frame('AgentRingNoAnswer', { ...member('101', '3'), RingTime: '15' }),
      frame('Hangup', { Channel: 'PJSIP/101-00000003', Uniqueid: '8.3', Linkedid: '8.1', Cause: '26' }),
      frame('Newchannel', {
        Channel: 'PJSIP/102-00000004',
        Uniqueid: '8.4',
        Linkedid: '8.1',
        Context: 'from-internal',
      }),
      frame('AgentCalled', member('102', '4')),
      frame('AgentConnect', { ...member('102', '4'), HoldTime: '20', RingTime: '3' }),
      frame('Hangup', { Channel: 'PJSIP/102-00000004', Uniqueid: '8.4', Linkedid: '8.1', Cause: '16' }),
      frame('Hangup', { ...caller, Cause: '16' }),
    ];
    const { out } = replay(tracker, frames);
    expect(out.map((e) => [e.id, e.event.type, e.event.agents?.extensions])).toEqual([
      ['ami.8.1.ringing', 'call.ringing', ['101']],
      ['ami.8.1.ringing-2', 'call.ringing', ['102']],
      ['ami.8.1.answered', 'call.answered', ['102']],
      ['ami.8.1.ended', 'call.ended', ['102']],
    ]);
  });
});

describe('malformed AMI frames', () => {
  it('a frame missing a field the tracker needs is reported with that field, not applied', () => {
    const parsed = parseAmiEvent({
      event: 'DialBegin',
      channel: 'PJSIP/1-1',
      uniqueid: '1.1',
      linkedid: '1.1',
    });
    expect(parsed).toMatchObject({ kind: 'malformed', eventName: 'DialBegin' });
    expect(parsed.kind === 'malformed' && parsed.reason).toMatch(/destchannel/);
    expect(parseAmiEvent({ channel: 'x' })).toMatchObject({ kind: 'malformed', eventName: '(none)' });
    expect(parseAmiEvent({ event: 'RTCPSent' })).toEqual({ kind: 'ignored' });
  });
});
