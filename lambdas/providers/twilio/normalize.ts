/**
 * Twilio call progress and recording callbacks → CallEvent.
 * Fields: twilio.com/docs/voice/api/call-resource#statuscallback and #recordingstatuscallback.
 */
import * as v from 'valibot';
import type { CallEvent, CallOutcome } from '../../core/protocol';
import { callIdOf, httpUrl, isoTime, partiesOf, seconds } from '../parties';
import type { Normalized } from '../port';

const CALL_STATUSES = [
  'queued',
  'initiated',
  'ringing',
  'in-progress',
  'answered',
  'completed',
  'busy',
  'failed',
  'no-answer',
  'canceled',
] as const;

export const TwilioPayloadSchema = v.looseObject({
  CallSid: v.pipe(
    v.string('expected the Twilio CallSid'),
    v.regex(/^[\x21-\x7e]{1,128}$/, 'expected a CallSid'),
  ),
  AccountSid: v.optional(v.string()),
  ParentCallSid: v.optional(v.string()),
  From: v.optional(v.string()),
  To: v.optional(v.string()),
  Direction: v.optional(v.string()),
  CallStatus: v.optional(v.picklist(CALL_STATUSES, `expected one of ${CALL_STATUSES.join(', ')}`)),
  Timestamp: v.optional(v.string()),
  SequenceNumber: v.optional(v.string()),
  CallDuration: v.optional(v.string()),
  AnsweredBy: v.optional(v.string()),
  RecordingUrl: v.optional(v.string()),
  RecordingSid: v.optional(v.string()),
  RecordingStatus: v.optional(v.string()),
});
export type TwilioPayload = v.InferOutput<typeof TwilioPayloadSchema>;

const ENDED: Partial<Record<(typeof CALL_STATUSES)[number], CallOutcome>> = {
  completed: 'answered',
  busy: 'busy',
  'no-answer': 'missed',
  canceled: 'missed',
  failed: 'failed',
};

export const normalizeTwilio = (
  p: TwilioPayload,
  receivedAt: number,
  idempotencyToken: string | undefined,
): Normalized => {
  if (!p.CallStatus) {
    if (p.RecordingStatus) {
      // A recording callback names no caller or callee and arrives after the call: it amends the call.
      const recordingUrl = httpUrl(p.RecordingUrl);
      if (p.RecordingStatus !== 'completed' || !recordingUrl) {
        return {
          kind: 'ignore',
          reason: `recording ${p.RecordingStatus} for call ${p.CallSid}: no recording to attach`,
        };
      }
      const duration = seconds(p.RecordingDuration as string | undefined);
      return {
        kind: 'event',
        event: {
          version: 1,
          type: 'call.recording',
          call: { id: callIdOf(p.CallSid), recordingUrl, ...(duration === undefined ? {} : { duration }) },
          occurredAt: new Date(receivedAt).toISOString(),
        },
        dedupeKey: idempotencyToken ?? `${p.CallSid}:recording:${p.RecordingSid ?? recordingUrl}`,
      };
    }
    return { kind: 'ignore', reason: 'no CallStatus: not a call progress callback' };
  }
  // `<Dial>` child legs carry the parent's sid: one call in the widget, whichever leg reports.
  const callId = callIdOf(p.ParentCallSid || p.CallSid);
  const parties = partiesOf(p.From, p.To, p.Direction === 'inbound' ? 'inbound' : 'outbound');
  const status = p.CallStatus;
  const occurredAt = isoTime(p.Timestamp, receivedAt);
  const call: CallEvent['call'] = {
    id: callId,
    direction: parties.direction,
    from: parties.from,
    to: parties.to,
  };
  // Twilio answers an inbound leg itself to run your TwiML (a call from a phone, or from a browser client):
  // that leg being in progress says nothing about an agent. The answer that counts is the leg <Dial> rang.
  const inboundLeg = !p.ParentCallSid && p.Direction === 'inbound';
  let type: CallEvent['type'];
  if (status === 'queued' || status === 'initiated' || status === 'ringing') type = 'call.ringing';
  else if (status === 'in-progress' || status === 'answered') {
    if (inboundLeg) {
      return {
        kind: 'ignore',
        reason:
          'Twilio answered the inbound leg to run your TwiML; the answer comes from the leg <Dial> rings',
      };
    }
    type = 'call.answered';
  } else {
    // When one leg of a <Dial> to several agents answers, Twilio cancels the others: such a leg must not
    // end the call. The caller's leg, or the leg that answered, reports the end.
    if (status === 'canceled' && p.ParentCallSid) {
      return {
        kind: 'ignore',
        reason:
          'a <Dial> leg was cancelled (another leg answered, or the caller hung up); the caller’s leg reports the end',
      };
    }
    type = 'call.ended';
    const machine = p.AnsweredBy?.startsWith('machine') || p.AnsweredBy === 'fax';
    // An inbound leg completes whether or not an agent answered: the state machine knows which it was.
    const outcome =
      status === 'completed' && machine
        ? 'voicemail'
        : inboundLeg && status === 'completed'
          ? undefined
          : ENDED[status];
    if (outcome) call.outcome = outcome;
    const duration = seconds(p.CallDuration);
    if (duration !== undefined) call.duration = duration;
    // Present on `completed` when the call was created with Record=true.
    const recording = httpUrl(p.RecordingUrl);
    if (recording) call.recordingUrl = recording;
  }
  const event: CallEvent = {
    version: 1,
    type,
    call,
    ...(parties.agents ? { agents: parties.agents } : {}),
    occurredAt,
  };
  return {
    kind: 'event',
    event,
    // Twilio's retries repeat I-Twilio-Idempotency-Token; without it, sid + status + sequence is the event.
    dedupeKey: idempotencyToken
      ? `idem:${idempotencyToken}`
      : `${p.CallSid}:${status}:${p.SequenceNumber ?? ''}`,
  };
};
