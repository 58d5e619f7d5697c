/**
 * Telnyx Call Control (API v2) webhooks → CallEvent.
 * Shapes: developers.telnyx.com/api-reference/callbacks (call-initiated, call-answered, call-hangup,
 * call-recording-saved). `call_session_id` is shared by every leg of one call.
 */
import * as v from 'valibot';
import type { CallEvent, CallOutcome } from '../../core/protocol';
import { callIdOf, httpUrl, isoTime, partiesOf } from '../parties';
import type { Normalized } from '../port';

const str = v.optional(v.nullable(v.string()));

export const TelnyxPayloadSchema = v.object({
  data: v.looseObject({
    record_type: v.optional(v.string()),
    id: v.pipe(v.string('expected the event id'), v.minLength(1), v.maxLength(128)),
    event_type: v.pipe(v.string('expected the event type'), v.maxLength(64)),
    occurred_at: v.optional(v.string()),
    payload: v.looseObject({
      call_session_id: v.pipe(
        v.string('expected call_session_id'),
        v.regex(/^[\x21-\x7e]{1,128}$/, 'expected a call session id'),
      ),
      call_leg_id: str,
      from: str,
      to: str,
      direction: str,
      hangup_cause: str,
      start_time: str,
      recording_urls: v.optional(v.nullable(v.looseObject({ mp3: str, wav: str }))),
      public_recording_urls: v.optional(v.nullable(v.looseObject({ mp3: str, wav: str }))),
    }),
  }),
});
export type TelnyxPayload = v.InferOutput<typeof TelnyxPayloadSchema>;

/** hangup_cause values per the call.hangup schema. */
const HANGUP: Record<string, CallOutcome> = {
  user_busy: 'busy',
  timeout: 'missed',
  no_answer: 'missed',
  originator_cancel: 'missed',
  call_rejected: 'missed',
  not_found: 'failed',
  unspecified: 'failed',
};

export const normalizeTelnyx = (p: TelnyxPayload, receivedAt: number): Normalized => {
  const { data } = p;
  const body = data.payload;
  let type: CallEvent['type'];
  switch (data.event_type) {
    case 'call.initiated':
      type = 'call.ringing';
      break;
    case 'call.answered':
    case 'call.bridged':
      type = 'call.answered';
      break;
    case 'call.hangup':
      type = 'call.ended';
      break;
    case 'call.recording.saved': {
      const recordingUrl = httpUrl(body.public_recording_urls?.mp3 ?? body.recording_urls?.mp3 ?? undefined);
      if (!recordingUrl)
        return { kind: 'ignore', reason: `recording saved for call ${body.call_session_id} without a URL` };
      return {
        kind: 'event',
        event: {
          version: 1,
          type: 'call.recording',
          call: { id: callIdOf(body.call_session_id), recordingUrl },
          occurredAt: isoTime(data.occurred_at, receivedAt),
        },
        dedupeKey: data.id,
      };
    }
    default:
      return { kind: 'ignore', reason: `${data.event_type} carries no call state` };
  }
  if (!body.from || !body.to) {
    return { kind: 'ignore', reason: `${data.event_type} without from/to cannot be shown` };
  }
  const parties = partiesOf(body.from, body.to, body.direction === 'outgoing' ? 'outbound' : 'inbound');
  const call: CallEvent['call'] = {
    id: callIdOf(body.call_session_id),
    direction: parties.direction,
    from: parties.from,
    to: parties.to,
  };
  if (type === 'call.ended') {
    // normal_clearing says nothing about an answer: the state machine fills answered/missed from what it saw.
    const outcome = body.hangup_cause ? HANGUP[body.hangup_cause] : undefined;
    if (outcome) call.outcome = outcome;
    const recording = httpUrl(body.public_recording_urls?.mp3 ?? body.recording_urls?.mp3 ?? undefined);
    if (recording) call.recordingUrl = recording;
  }
  return {
    kind: 'event',
    event: {
      version: 1,
      type,
      call,
      ...(parties.agents ? { agents: parties.agents } : {}),
      occurredAt: isoTime(data.occurred_at, receivedAt),
    },
    // Telnyx retries a delivery with the same event id.
    dedupeKey: data.id,
  };
};
