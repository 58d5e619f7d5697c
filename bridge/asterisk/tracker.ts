/**
 * Follows calls as Asterisk reports them and says what Callbridge must be told. Pure: AMI events and the time
 * go in, CallEvents come out; no sockets, no disk, no clock of its own, so every rule below is tested by
 * replaying recorded AMI transcripts.
 *
 * - A call is everything that shares a `Linkedid`. It ends when its last channel hangs up.
 * - Ringing: `DialBegin`/`AgentCalled` towards an agent's phone. Members rung together (a ring group, a
 *   ring-all queue) are announced in one `call.ringing`: dials of one burst are batched until something else
 *   happens to the call or `ringBatchMs` passes (see `tick`).
 * - Answered: `DialEnd ANSWER`/`AgentConnect` from an agent's phone, or the agent's phone entering a bridge.
 *   Only the answering agent is named; the backend keeps the earlier recipients and moves them all to answered.
 * - Ended: the outcome comes from whether anyone answered, the dial statuses and the hangup causes.
 * - Transfers: the backend's call never moves from answered to answered, so a transfer closes the current
 *   *segment* (`call.ended`, outcome answered) and opens a new one for the new agent under the id
 *   `<linkedid>:t<n>`. Blind: `BlindTransfer`, then the dial to the target. Attended: `AttendedTransfer`, whose
 *   target is already talking (it answered the consultation call).
 * - Direction: a call whose first channel is a trunk (or enters an inbound context) is inbound; one whose first
 *   channel is an agent's phone and that dials a trunk is outbound; an agent calling an agent is inbound for
 *   the callee.
 *
 * Each emitted event carries a webhook id derived from the call and state alone, so the same fact emitted again
 * after a restart (resync) is de-duplicated by Callbridge instead of popping twice.
 */
import type { CallEvent, CallOutcome } from '../../lambdas/core/protocol';
import { CALL_EVENT_VERSION, parseCallEvent } from '../../lambdas/core/protocol';
import type { AmiEvent, AmiEventOf } from './ami-events';
import { type ChannelKind, type Classifier, endpointOf } from './classify';

export interface Emitted {
  /** Stable webhook-id: the same call, segment and state always get the same id. */
  id: string;
  /** Events sharing a key are delivered in order; the key is the Linkedid, whatever the segment. */
  key: string;
  event: CallEvent;
}

export interface ChannelState {
  name: string;
  linkedid: string;
  kind: ChannelKind;
  endpoint: string;
  callerIdNum: string;
  context: string;
  exten: string;
  bridge?: string;
}

type Phase = 'new' | 'ringing' | 'answered';

export interface CallState {
  linkedid: string;
  direction: 'inbound' | 'outbound' | undefined;
  from: string;
  to: string;
  /** The agent who placed an outbound call. */
  caller?: string;
  segment: number;
  phase: Phase;
  startedAt: number;
  ringingSent: number;
  /** Agents rung in this segment, in the order they were rung; `ringing` those still ringing. */
  rung: string[];
  ringing: string[];
  /** Set while rung agents wait to be announced in one call.ringing (bridge clock), and when the first rang. */
  pendingSince?: number;
  pendingAt?: number;
  answeredBy?: string;
  answeredAt?: number;
  /** DialEnd statuses and hangup causes of this segment's legs, for the outcome. */
  statuses: string[];
  voicemail: boolean;
  recording?: string;
  /** A blind transfer left this call; the next agent dialed takes it. */
  awaitingTransfer: boolean;
  ignored: boolean;
}

export interface TrackerState {
  channels: Record<string, ChannelState>;
  bridges: Record<string, string[]>;
  calls: Record<string, CallState>;
  /** Calls that ended recently (Linkedid → epoch ms), so stray late events cannot resurrect them. */
  ended: Record<string, number>;
}

export interface TrackerOptions {
  classifier: Classifier;
  ringBatchMs: number;
  recording?: { baseUrl: string; root: string };
  /** Called for a call event that fails the contract (it is then dropped, never sent). */
  onInvalid?: (callId: string, problem: string) => void;
}

/** One channel as `CoreShowChannels` lists it. */
export interface ChannelSnapshot {
  channel: string;
  uniqueid: string;
  linkedid: string;
  calleridnum?: string;
  context?: string;
  exten?: string;
  channelstatedesc?: string;
  bridgeid?: string;
}

const ENDED_MEMORY_MS = 60 * 60 * 1000;

/** Events that end a burst of dials (members of a ring group are dialed back to back, before any of these). */
const PROGRESS = new Set<AmiEvent['event']>([
  'DialEnd',
  'Hangup',
  'BridgeEnter',
  'AgentConnect',
  'AgentRingNoAnswer',
]);

export const emptyState = (): TrackerState => ({ channels: {}, bridges: {}, calls: {}, ended: {} });

/** Caller ids reach Kommo's UI; keep only what the contract allows (`<unknown>` becomes `unknown`). */
const phone = (value: string | undefined): string => {
  const cleaned = (value ?? '').replace(/[^0-9A-Za-z+*#.@:_ ()-]/g, '').slice(0, 64);
  return cleaned || 'unknown';
};

const isKnownNumber = (value: string | undefined): value is string =>
  !!value && value !== '<unknown>' && value !== 's' && /[0-9]/.test(value);

export class CallTracker {
  private state: TrackerState;
  /** The bridge's clock at the event being handled: ring batches wait by it, not by Asterisk's (skewed) clock. */
  private receivedAt = 0;
  /** The time of the event being handled, by Asterisk's clock when it sends one. */
  private eventAt = 0;

  constructor(
    private readonly options: TrackerOptions,
    initial?: TrackerState,
  ) {
    this.state = initial ?? emptyState();
  }

  snapshot(): TrackerState {
    return this.state;
  }

  /** Calls in progress (for the health endpoint and the memory bench). */
  get activeCalls(): number {
    return Object.keys(this.state.calls).length;
  }

  get trackedChannels(): number {
    return Object.keys(this.state.channels).length;
  }

  handle(event: AmiEvent, nowMs: number): Emitted[] {
    const out: Emitted[] = [];
    this.receivedAt = nowMs;
    const at = eventTime(event, nowMs);
    this.eventAt = at;
    const uniqueid = 'uniqueid' in event ? event.uniqueid : undefined;
    const linkedid = 'linkedid' in event ? event.linkedid : undefined;
    if (typeof uniqueid === 'string' && typeof linkedid === 'string' && event.event !== 'CoreShowChannel') {
      this.follow(uniqueid, linkedid, at, out);
      // A ring burst is over once anything but another dial happens to the call: announce it first.
      const call = PROGRESS.has(event.event) ? this.callOf(linkedid) : undefined;
      if (call?.pendingSince !== undefined) this.flushRinging(call, at, out);
    }
    switch (event.event) {
      case 'Newchannel':
        this.newChannel(event, at);
        break;
      case 'Newstate':
      case 'NewCallerid':
        this.touch(event);
        break;
      case 'Newexten':
        if (/^voicemail$/i.test(event.application ?? '')) {
          const call = this.callOf(event.linkedid);
          if (call && call.phase !== 'answered') call.voicemail = true;
        }
        break;
      case 'VarSet':
        if (event.variable === 'MIXMONITOR_FILENAME' && event.value) {
          const call = this.callOf(event.linkedid);
          if (call) call.recording = event.value;
        }
        break;
      case 'DialBegin':
      case 'AgentCalled':
        this.dialBegin(event, at, out);
        break;
      case 'DialEnd':
        this.dialEnd(event, at, out);
        break;
      case 'AgentConnect':
        this.agentConnect(event, at, out);
        break;
      case 'AgentRingNoAnswer':
        this.agentNoAnswer(event);
        break;
      case 'BridgeEnter':
        this.bridgeEnter(event, at, out);
        break;
      case 'BridgeLeave':
        this.bridgeLeave(event.uniqueid, event.bridgeuniqueid);
        break;
      case 'BridgeDestroy':
        delete this.state.bridges[event.bridgeuniqueid];
        break;
      case 'Hangup':
        this.hangup(event, at, out);
        break;
      case 'BlindTransfer':
        this.blindTransfer(event, at, out);
        break;
      case 'AttendedTransfer':
        this.attendedTransfer(event, at, out);
        break;
      case 'CoreShowChannel':
        break;
    }
    return out;
  }

  /** Announce ring batches older than `ringBatchMs`, and forget ended calls older than an hour. */
  tick(nowMs: number): Emitted[] {
    const out: Emitted[] = [];
    this.receivedAt = nowMs;
    for (const call of Object.values(this.state.calls)) {
      if (call.pendingSince !== undefined && nowMs - call.pendingSince >= this.options.ringBatchMs) {
        this.flushRinging(call, call.pendingAt ?? nowMs, out);
      }
    }
    for (const [linkedid, endedAt] of Object.entries(this.state.ended)) {
      if (nowMs - endedAt > ENDED_MEMORY_MS) delete this.state.ended[linkedid];
    }
    return out;
  }

  /**
   * After a reconnect: Asterisk's own list of channels replaces what we believed. Channels we know that are
   * gone hung up while we were away (their calls end); channels we did not know are adopted, and what they
   * show (an agent's phone ringing, or up in a bridge) is announced.
   */
  resync(channels: readonly ChannelSnapshot[], nowMs: number): Emitted[] {
    const out: Emitted[] = [];
    this.receivedAt = nowMs;
    this.eventAt = nowMs;
    const live = new Map(channels.map((c) => [c.uniqueid, c]));
    for (const [uniqueid, channel] of Object.entries(this.state.channels)) {
      if (!live.has(uniqueid)) this.removeChannel(uniqueid, channel, nowMs, out);
    }
    this.state.bridges = {};
    // Oldest first, so a call's first channel is registered before the legs it dialed.
    const ordered = [...channels].sort((a, b) => compareUniqueid(a.uniqueid, b.uniqueid));
    for (const snap of ordered) {
      const known = this.state.channels[snap.uniqueid];
      if (!known) {
        this.register(
          snap.uniqueid,
          snap.channel,
          snap.linkedid,
          snap.context ?? '',
          snap.exten ?? '',
          snap.calleridnum,
        );
        this.ensureCall(snap.linkedid, snap.uniqueid, nowMs);
      } else if (known.linkedid !== snap.linkedid) {
        this.follow(snap.uniqueid, snap.linkedid, nowMs, out);
      }
      const channel = this.state.channels[snap.uniqueid];
      if (channel && snap.bridgeid) {
        channel.bridge = snap.bridgeid;
        const members = this.state.bridges[snap.bridgeid] ?? [];
        members.push(snap.uniqueid);
        this.state.bridges[snap.bridgeid] = members;
      }
    }
    for (const snap of ordered) {
      const channel = this.state.channels[snap.uniqueid];
      const call = channel ? this.callOf(channel.linkedid) : undefined;
      if (!channel || !call || call.ignored || channel.kind !== 'agent' || channel.endpoint === call.caller)
        continue;
      const desc = (snap.channelstatedesc ?? '').toLowerCase();
      if (desc === 'ringing' && call.phase !== 'answered' && !call.rung.includes(channel.endpoint)) {
        this.addRinging(call, channel.endpoint);
      } else if (desc === 'up' && channel.bridge && (this.state.bridges[channel.bridge]?.length ?? 0) >= 2) {
        if (call.phase !== 'answered') {
          if (call.direction === undefined) call.direction = 'inbound';
          this.answer(call, channel.endpoint, nowMs, out);
        }
      }
    }
    for (const snap of ordered) {
      const channel = this.state.channels[snap.uniqueid];
      const call = channel ? this.callOf(channel.linkedid) : undefined;
      if (call?.caller && call.direction === 'outbound' && call.phase !== 'answered') {
        const bridged = channel?.bridge ? (this.state.bridges[channel.bridge]?.length ?? 0) >= 2 : false;
        if (channel?.kind === 'agent' && channel.endpoint === call.caller && bridged) {
          this.answer(call, call.caller, nowMs, out);
        }
      }
    }
    for (const call of Object.values(this.state.calls)) {
      if (call.pendingSince !== undefined) this.flushRinging(call, nowMs, out);
    }
    return out;
  }

  // --- channels ---

  private register(
    uniqueid: string,
    name: string,
    linkedid: string,
    context: string,
    exten: string,
    callerIdNum: string | undefined,
  ): ChannelState {
    const identity = this.options.classifier.classify(name, context);
    const channel: ChannelState = {
      name,
      linkedid,
      kind: identity.kind,
      endpoint: identity.endpoint,
      callerIdNum: callerIdNum ?? '',
      context,
      exten,
    };
    this.state.channels[uniqueid] = channel;
    return channel;
  }

  private newChannel(event: AmiEventOf<'Newchannel'>, at: number) {
    if (this.state.channels[event.uniqueid]) return;
    this.register(
      event.uniqueid,
      event.channel,
      event.linkedid,
      event.context ?? '',
      event.exten ?? '',
      event.calleridnum,
    );
    this.ensureCall(event.linkedid, event.uniqueid, at);
  }

  private touch(event: { uniqueid: string; calleridnum?: string }) {
    const channel = this.state.channels[event.uniqueid];
    if (channel && isKnownNumber(event.calleridnum) && !isKnownNumber(channel.callerIdNum)) {
      channel.callerIdNum = event.calleridnum;
    }
  }

  /** Asterisk moves a channel to the oldest Linkedid of a bridge it joins (attended transfers do this). */
  private follow(uniqueid: string, linkedid: string, at: number, out: Emitted[]) {
    const channel = this.state.channels[uniqueid];
    if (!channel || channel.linkedid === linkedid) return;
    const previous = channel.linkedid;
    channel.linkedid = linkedid;
    this.ensureCall(linkedid, uniqueid, at);
    this.endIfEmpty(previous, at, out);
  }

  private ensureCall(linkedid: string, firstUniqueid: string, at: number): CallState | undefined {
    const existing = this.state.calls[linkedid];
    if (existing) return existing;
    if (this.state.ended[linkedid] !== undefined) return undefined;
    const first = this.state.channels[linkedid] ?? this.state.channels[firstUniqueid];
    const classifier = this.options.classifier;
    const call: CallState = {
      linkedid,
      direction: undefined,
      from: phone(first?.callerIdNum),
      to: phone(first?.exten),
      segment: 0,
      phase: 'new',
      startedAt: at,
      ringingSent: 0,
      rung: [],
      ringing: [],
      statuses: [],
      voicemail: false,
      awaitingTransfer: false,
      ignored: !classifier.followsContext(first?.context),
    };
    if (first?.kind === 'trunk' || classifier.isInboundContext(first?.context)) call.direction = 'inbound';
    else if (first?.kind === 'agent') call.caller = first.endpoint;
    this.state.calls[linkedid] = call;
    return call;
  }

  private callOf(linkedid: string): CallState | undefined {
    return this.state.calls[linkedid];
  }

  // --- dialing ---

  private dialBegin(event: AmiEventOf<'DialBegin'> | AmiEventOf<'AgentCalled'>, at: number, out: Emitted[]) {
    const call = this.callOf(event.linkedid);
    if (!call || call.ignored) return;
    let dest = this.state.channels[event.destuniqueid];
    if (!dest) {
      dest = this.register(
        event.destuniqueid,
        event.destchannel,
        event.destlinkedid || event.linkedid,
        event.destcontext ?? '',
        event.destexten ?? '',
        event.destcalleridnum,
      );
    }
    let agent = dest.kind === 'agent' ? dest.endpoint : undefined;
    if (!agent && event.event === 'AgentCalled')
      agent = this.options.classifier.agentOfInterface(event.interface);
    if (dest.kind === 'trunk' && !agent) {
      if (call.caller && call.direction !== 'inbound' && call.phase === 'new') {
        // An agent's phone dialing out through a trunk: an outbound call of that agent.
        call.direction = 'outbound';
        const dialed = isKnownNumber(event.destcalleridnum)
          ? event.destcalleridnum
          : isKnownNumber(event.exten)
            ? event.exten
            : call.to;
        call.to = phone(dialed);
        const caller = this.channelByEndpoint(call.linkedid, call.caller);
        const callerId = isKnownNumber(event.calleridnum) ? event.calleridnum : caller?.callerIdNum;
        call.from = phone(callerId || call.caller);
        this.addRinging(call, call.caller);
        this.flushRinging(call, at, out);
      }
      return;
    }
    if (!agent || agent === call.caller) return;
    if (call.phase === 'answered') {
      // A dial towards another agent while the call is answered: only a transfer target takes the call over;
      // a consultation dial from the same channel waits for AttendedTransfer.
      if (!call.awaitingTransfer || agent === call.answeredBy) return;
      this.openSegment(call, at);
    }
    if (call.direction === undefined) {
      // An agent calling an agent: inbound for the callee, from the caller's number to the dialed extension.
      call.direction = 'inbound';
      const caller = call.caller ? this.channelByEndpoint(call.linkedid, call.caller) : undefined;
      const callerId = isKnownNumber(event.calleridnum) ? event.calleridnum : caller?.callerIdNum;
      call.from = phone(callerId || call.caller);
      call.to = phone(isKnownNumber(event.exten) ? event.exten : agent);
    }
    this.addRinging(call, agent);
  }

  private dialEnd(event: AmiEventOf<'DialEnd'>, at: number, out: Emitted[]) {
    const call = this.callOf(event.linkedid);
    if (!call || call.ignored) return;
    const dest = this.state.channels[event.destuniqueid];
    const status = event.dialstatus.toUpperCase();
    if (!dest) return;
    if (dest.kind === 'agent' && dest.endpoint !== call.caller) {
      if (!call.rung.includes(dest.endpoint)) return;
      if (status === 'ANSWER') this.answer(call, dest.endpoint, at, out);
      else this.stopRinging(call, dest.endpoint, status);
    } else if (dest.kind === 'trunk' && call.direction === 'outbound' && call.caller) {
      if (status === 'ANSWER') this.answer(call, call.caller, at, out);
      else call.statuses.push(status);
    }
  }

  private agentConnect(event: AmiEventOf<'AgentConnect'>, at: number, out: Emitted[]) {
    const call = this.callOf(event.linkedid);
    if (!call || call.ignored || call.phase === 'answered') return;
    const dest = this.state.channels[event.destuniqueid];
    const agent =
      dest?.kind === 'agent' ? dest.endpoint : this.options.classifier.agentOfInterface(event.interface);
    if (agent) this.answer(call, agent, at, out);
  }

  private agentNoAnswer(event: AmiEventOf<'AgentRingNoAnswer'>) {
    const call = this.callOf(event.linkedid);
    if (!call) return;
    const dest = this.state.channels[event.destuniqueid];
    const agent =
      dest?.kind === 'agent' ? dest.endpoint : this.options.classifier.agentOfInterface(event.interface);
    if (agent) this.stopRinging(call, agent, 'NOANSWER');
  }

  private addRinging(call: CallState, agent: string) {
    if (call.phase === 'new') call.phase = 'ringing';
    if (!call.rung.includes(agent)) call.rung.push(agent);
    if (!call.ringing.includes(agent)) {
      call.ringing.push(agent);
      call.pendingSince ??= this.receivedAt;
      call.pendingAt ??= this.eventAt;
    }
  }

  private stopRinging(call: CallState, agent: string, status: string) {
    call.ringing = call.ringing.filter((a) => a !== agent);
    call.statuses.push(status);
  }

  private flushRinging(call: CallState, at: number, out: Emitted[]) {
    if (call.pendingSince === undefined) return;
    call.pendingSince = undefined;
    call.pendingAt = undefined;
    if (call.phase !== 'ringing' || call.ringing.length === 0) return;
    call.ringingSent++;
    this.emit(
      call,
      'call.ringing',
      [...call.ringing],
      at,
      out,
      call.ringingSent > 1 ? `ringing-${call.ringingSent}` : 'ringing',
    );
  }

  private answer(call: CallState, agent: string, at: number, out: Emitted[]) {
    if (call.phase === 'answered') return;
    // Whoever else was rung in the same burst hears of the call before it is answered.
    this.flushRinging(call, at, out);
    if (call.ringingSent === 0 && !call.rung.includes(agent)) call.rung.push(agent);
    call.phase = 'answered';
    call.answeredBy = agent;
    call.answeredAt = at;
    call.ringing = [];
    call.awaitingTransfer = false;
    this.emit(call, 'call.answered', [agent], at, out, 'answered');
  }

  // --- bridges and hangups ---

  private bridgeEnter(event: AmiEventOf<'BridgeEnter'>, at: number, out: Emitted[]) {
    const channel = this.state.channels[event.uniqueid];
    if (!channel) return;
    if (channel.bridge && channel.bridge !== event.bridgeuniqueid)
      this.bridgeLeave(event.uniqueid, channel.bridge);
    channel.bridge = event.bridgeuniqueid;
    const members = this.state.bridges[event.bridgeuniqueid] ?? [];
    if (!members.includes(event.uniqueid)) members.push(event.uniqueid);
    this.state.bridges[event.bridgeuniqueid] = members;
    const call = this.callOf(channel.linkedid);
    if (!call || call.ignored || call.phase === 'answered' || members.length < 2) return;
    // Answered without a DialEnd (a pickup, an originate): an agent that was rung is now talking.
    for (const uniqueid of members) {
      const member = this.state.channels[uniqueid];
      if (member?.kind === 'agent' && call.ringing.includes(member.endpoint)) {
        this.answer(call, member.endpoint, at, out);
        return;
      }
    }
  }

  private bridgeLeave(uniqueid: string, bridgeId: string) {
    const members = this.state.bridges[bridgeId];
    if (members) {
      const rest = members.filter((m) => m !== uniqueid);
      if (rest.length > 0) this.state.bridges[bridgeId] = rest;
      else delete this.state.bridges[bridgeId];
    }
    const channel = this.state.channels[uniqueid];
    if (channel?.bridge === bridgeId) channel.bridge = undefined;
  }

  private hangup(event: AmiEventOf<'Hangup'>, at: number, out: Emitted[]) {
    const channel = this.state.channels[event.uniqueid];
    if (!channel) return;
    this.removeChannel(event.uniqueid, channel, at, out, event.cause);
  }

  private removeChannel(uniqueid: string, channel: ChannelState, at: number, out: Emitted[], cause?: string) {
    if (channel.bridge) this.bridgeLeave(uniqueid, channel.bridge);
    delete this.state.channels[uniqueid];
    const call = this.callOf(channel.linkedid);
    if (call && channel.kind === 'agent' && call.ringing.includes(channel.endpoint)) {
      call.ringing = call.ringing.filter((a) => a !== channel.endpoint);
      call.statuses.push(causeStatus(cause));
    } else if (call && cause && channel.kind === 'trunk' && call.direction === 'outbound') {
      call.statuses.push(causeStatus(cause));
    }
    this.endIfEmpty(channel.linkedid, at, out);
  }

  private endIfEmpty(linkedid: string, at: number, out: Emitted[]) {
    const call = this.state.calls[linkedid];
    if (!call) return;
    for (const channel of Object.values(this.state.channels)) if (channel.linkedid === linkedid) return;
    this.flushRinging(call, at, out);
    this.closeSegment(call, at, out);
    delete this.state.calls[linkedid];
    this.state.ended[linkedid] = at;
  }

  // --- transfers ---

  private blindTransfer(event: AmiEventOf<'BlindTransfer'>, at: number, out: Emitted[]) {
    if (event.result.toLowerCase() !== 'success') return;
    const call = this.callOf(event.transfererlinkedid);
    if (!call || call.ignored || call.phase !== 'answered') return;
    const transferer = endpointOf(event.transfererchannel);
    if (transferer !== call.answeredBy) return;
    this.closeSegment(call, at, out);
    this.openSegment(call, at);
    call.awaitingTransfer = true;
  }

  private attendedTransfer(event: AmiEventOf<'AttendedTransfer'>, at: number, out: Emitted[]) {
    if (event.result.toLowerCase() !== 'success') return;
    const transferer = endpointOf(event.origtransfererchannel);
    const bridges = [event.origbridgeuniqueid, event.secondbridgeuniqueid].filter((b): b is string => !!b);
    const transfererIds = new Set([event.origtransfereruniqueid, event.secondtransfereruniqueid]);
    const linkedids = new Set([event.origtransfererlinkedid, event.secondtransfererlinkedid]);
    for (const linkedid of linkedids) {
      const call = linkedid ? this.callOf(linkedid) : undefined;
      if (!call || call.ignored || call.phase !== 'answered' || call.answeredBy !== transferer) continue;
      // The agent the call is handed to: an agent's phone in either bridge that is neither the transferer
      // nor the party on the other end of this call (an internal caller is an agent's phone too).
      let target: string | undefined;
      for (const bridge of bridges) {
        for (const uniqueid of this.state.bridges[bridge] ?? []) {
          const member = this.state.channels[uniqueid];
          if (
            member?.kind === 'agent' &&
            !transfererIds.has(uniqueid) &&
            member.endpoint !== transferer &&
            member.endpoint !== call.caller
          ) {
            target = member.endpoint;
          }
        }
      }
      this.closeSegment(call, at, out);
      this.openSegment(call, at);
      if (target) {
        call.rung.push(target);
        this.answer(call, target, at, out);
      } else {
        call.awaitingTransfer = true;
      }
    }
  }

  private openSegment(call: CallState, at: number) {
    call.segment++;
    call.phase = 'new';
    call.startedAt = at;
    call.ringingSent = 0;
    call.rung = [];
    call.ringing = [];
    call.pendingSince = undefined;
    call.pendingAt = undefined;
    call.answeredBy = undefined;
    call.answeredAt = undefined;
    call.statuses = [];
    call.voicemail = false;
  }

  /** call.ended for the current segment, if anyone heard of it. */
  private closeSegment(call: CallState, at: number, out: Emitted[]) {
    if (call.ignored || call.rung.length === 0 || (call.ringingSent === 0 && call.phase !== 'answered'))
      return;
    const agents = call.answeredBy ? [call.answeredBy] : [...call.rung];
    this.emit(call, 'call.ended', agents, at, out, 'ended', outcomeOf(call));
    call.phase = 'new';
    call.rung = [];
  }

  // --- output ---

  private emit(
    call: CallState,
    type: CallEvent['type'],
    agents: string[],
    at: number,
    out: Emitted[],
    suffix: string,
    outcome?: CallOutcome,
  ) {
    const callId = call.segment === 0 ? call.linkedid : `${call.linkedid}:t${call.segment}`;
    const event: CallEvent = {
      version: CALL_EVENT_VERSION,
      type,
      call: {
        id: callId,
        direction: call.direction ?? 'inbound',
        from: call.from,
        to: call.to,
        startedAt: iso(call.startedAt),
        ...(call.answeredAt !== undefined && type !== 'call.ringing'
          ? { answeredAt: iso(call.answeredAt) }
          : {}),
        ...(type === 'call.ended'
          ? {
              endedAt: iso(at),
              duration:
                call.answeredAt !== undefined ? Math.max(0, Math.round((at - call.answeredAt) / 1000)) : 0,
              outcome,
            }
          : {}),
        ...(type !== 'call.ringing' && call.recording ? this.recordingUrl(call.recording) : {}),
      },
      agents: { extensions: agents },
      occurredAt: iso(at),
    };
    const parsed = parseCallEvent(event);
    if (!parsed.ok || parsed.value.type === 'call.recording') {
      const issue = parsed.ok ? undefined : parsed.issues[0];
      this.options.onInvalid?.(callId, `${issue?.field}: ${issue?.message}`);
      return;
    }
    const id = `ami.${callId}.${suffix}`.replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 128);
    out.push({ id, key: call.linkedid, event: parsed.value });
  }

  private recordingUrl(file: string): { recordingUrl?: string } {
    const rec = this.options.recording;
    if (!rec) return {};
    const root = rec.root.replace(/\/+$/, '');
    const relative = file.startsWith(`${root}/`) ? file.slice(root.length + 1) : file.replace(/^.*\//, '');
    const url = `${rec.baseUrl}/${relative.split('/').map(encodeURIComponent).join('/')}`;
    return url.length <= 2048 ? { recordingUrl: url } : {};
  }

  private channelByEndpoint(linkedid: string, endpoint: string): ChannelState | undefined {
    return Object.values(this.state.channels).find((c) => c.linkedid === linkedid && c.endpoint === endpoint);
  }
}

/** ISDN causes as Asterisk reports them: 17 user busy, 21 call rejected, 34/38/… network trouble. */
const causeStatus = (cause: string | undefined): string => {
  switch (cause) {
    case '17':
    case '21':
      return 'BUSY';
    case '1':
    case '3':
    case '27':
    case '34':
    case '38':
    case '41':
    case '42':
      return 'CHANUNAVAIL';
    default:
      return 'NOANSWER';
  }
};

export const outcomeOf = (call: Pick<CallState, 'answeredBy' | 'voicemail' | 'statuses'>): CallOutcome => {
  if (call.answeredBy) return 'answered';
  if (call.voicemail) return 'voicemail';
  const statuses = call.statuses;
  if (statuses.length > 0 && statuses.every((s) => s === 'BUSY')) return 'busy';
  if (statuses.length > 0 && statuses.every((s) => s === 'CONGESTION' || s === 'CHANUNAVAIL'))
    return 'failed';
  return 'missed';
};

const iso = (ms: number) => new Date(ms).toISOString();

/** With `timestampevents = yes` in manager.conf every event carries Asterisk's own time; else ours. */
const eventTime = (event: AmiEvent, nowMs: number): number => {
  const raw = 'timestamp' in event ? event.timestamp : undefined;
  const seconds = raw ? Number(raw) : Number.NaN;
  return Number.isFinite(seconds) && seconds > 1e9 ? Math.round(seconds * 1000) : nowMs;
};

/** Uniqueids are `[system-]epoch.sequence`; compare by the numbers so 1.10 sorts after 1.9. */
const compareUniqueid = (a: string, b: string): number => {
  const parse = (id: string) => {
    const match = /(\d+)\.(\d+)$/.exec(id);
    return match ? [Number(match[1]), Number(match[2])] : [0, 0];
  };
  const [a1 = 0, a2 = 0] = parse(a);
  const [b1 = 0, b2 = 0] = parse(b);
  return a1 - b1 || a2 - b2;
};
