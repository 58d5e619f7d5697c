/**
 * Plivo Voice callbacks → CallEvent: ring_url and hangup_url requests and `<Dial callbackUrl>` events.
 * Parameters: plivo.com/docs/voice/api/call (answer/hangup/ring URL parameters) and the `<Dial>` XML
 * element's callbackUrl parameters. `ALegUUID` names the call every leg belongs to.
 */
import * as v from 'valibot';
import type { CallEvent, CallOutcome } from '../../core/protocol';
import { agentIdentity, callIdOf, isoTime, partiesOf, seconds } from '../parties';
import type { Normalized } from '../port';

const str = v.optional(v.string());

export const PlivoPayloadSchema = v.looseObject({
  CallUUID: v.pipe(
    v.string('expected the Plivo CallUUID'),
    v.regex(/^[\x21-\x7e]{1,128}$/, 'expected a CallUUID'),
  ),
  ALegUUID: str,
  From: str,
  To: str,
  Direction: str,
  CallStatus: str,
  Event: str,
  HangupCause: str,
  Duration: str,
  BillDuration: str,
  StartTime: str,
  AnswerTime: str,
  EndTime: str,
  SessionStart: str,
  DialAction: str,
  DialBLegTo: str,
  DialBLegStatus: str,
});
export type PlivoPayload = v.InferOutput<typeof PlivoPayloadSchema>;

const ENDED: Record<string, CallOutcome | undefined> = {
  completed: undefined,
  busy: 'busy',
  'no-answer': 'missed',
  timeout: 'missed',
  cancel: 'missed',
  failed: 'failed',
};

/** Plivo times are UTC "YYYY-MM-DD HH:MM:SS[.ffffff]". */
const plivoTime = (value: string | undefined) =>
  value && /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}/.test(value) ? `${value.replace(' ', 'T')}Z` : undefined;

export const normalizePlivo = (p: PlivoPayload, receivedAt: number): Normalized => {
  if (p.Event === 'StartApp') {
    return {
      kind: 'ignore',
      reason:
        'answer_url request: Plivo expects your application XML there; point ring_url and hangup_url here',
    };
  }
  let type: CallEvent['type'];
  let outcome: CallOutcome | undefined;
  let agentAddress: string | undefined;
  let time: string | undefined;
  const status = p.CallStatus ?? '';
  if (p.DialAction) {
    agentAddress = p.DialBLegTo;
    if (p.DialAction === 'answer' || p.DialAction === 'connected') type = 'call.answered';
    else if (p.DialAction === 'hangup') {
      type = 'call.ended';
      outcome = ENDED[p.DialBLegStatus ?? ''];
    } else
      return { kind: 'ignore', reason: `DialAction "${p.DialAction.slice(0, 32)}" carries no call state` };
  } else if (status === 'ringing') {
    type = 'call.ringing';
    time = plivoTime(p.SessionStart);
  } else if (status === 'in-progress') {
    type = 'call.answered';
    time = plivoTime(p.AnswerTime);
  } else if (status in ENDED) {
    type = 'call.ended';
    outcome = ENDED[status];
    time = plivoTime(p.EndTime);
  } else return { kind: 'ignore', reason: `CallStatus "${status.slice(0, 32)}" carries no call state` };
  // On a `<Dial>` callback the agent is the B leg Plivo dialled; the call's own parties are the A leg's.
  const parties = partiesOf(
    p.From,
    p.To,
    p.Direction === 'outbound' ? 'outbound' : 'inbound',
    agentIdentity(agentAddress),
  );
  const call: CallEvent['call'] = {
    id: callIdOf(p.ALegUUID || p.CallUUID),
    direction: parties.direction,
    from: parties.from,
    to: parties.to,
  };
  if (type === 'call.ended') {
    const duration = seconds(p.BillDuration ?? p.Duration);
    // An AnswerTime (or talk time) proves the answer even when the answer callback is late or lost.
    if (status === 'completed' && (p.AnswerTime || duration)) outcome = 'answered';
    if (outcome) call.outcome = outcome;
    if (duration !== undefined && status === 'completed') call.duration = duration;
  }
  return {
    kind: 'event',
    event: {
      version: 1,
      type,
      call,
      ...(parties.agents ? { agents: parties.agents } : {}),
      occurredAt: isoTime(time, receivedAt),
    },
    // Plivo has no event id; a retry repeats the leg, the kind of request and the status.
    dedupeKey: `${p.CallUUID}:${p.DialAction ? `dial-${p.DialAction}` : status}`,
  };
};
