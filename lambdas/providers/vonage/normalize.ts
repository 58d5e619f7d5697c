/**
 * Vonage Voice API event webhook → CallEvent.
 * Fields and statuses: developer.vonage.com/en/voice/voice-api/webhook-reference#event-webhook.
 * `conversation_uuid` is shared by every leg of one conversation.
 */
import * as v from 'valibot';
import type { CallEvent, CallOutcome } from '../../core/protocol';
import { callIdOf, httpUrl, isoTime, partiesOf, seconds } from '../parties';
import type { Normalized } from '../port';

const str = v.optional(v.nullable(v.string()));

export const VonagePayloadSchema = v.looseObject({
  conversation_uuid: v.pipe(
    v.string('expected conversation_uuid'),
    v.regex(/^[\x21-\x7e]{1,128}$/, 'expected a conversation uuid'),
  ),
  uuid: str,
  status: v.optional(v.string()),
  from: str,
  to: str,
  direction: str,
  timestamp: str,
  duration: v.optional(v.nullable(v.union([v.string(), v.number()]))),
  recording_url: str,
});
export type VonagePayload = v.InferOutput<typeof VonagePayloadSchema>;

const ENDED: Record<string, CallOutcome | undefined> = {
  completed: undefined,
  busy: 'busy',
  cancelled: 'missed',
  unanswered: 'missed',
  timeout: 'missed',
  rejected: 'missed',
  failed: 'failed',
};

export const normalizeVonage = (p: VonagePayload, receivedAt: number): Normalized => {
  if (p.recording_url && !p.status) {
    // Vonage's recording webhook: the conversation's recording, after the call.
    const recordingUrl = httpUrl(p.recording_url);
    if (!recordingUrl)
      return { kind: 'ignore', reason: `recording for conversation ${p.conversation_uuid} without a URL` };
    return {
      kind: 'event',
      event: {
        version: 1,
        type: 'call.recording',
        call: { id: callIdOf(p.conversation_uuid), recordingUrl },
        occurredAt: isoTime(p.timestamp ?? undefined, receivedAt),
      },
      dedupeKey: `${p.conversation_uuid}:recording:${recordingUrl}`,
    };
  }
  const status = p.status ?? '';
  let type: CallEvent['type'];
  if (status === 'started' || status === 'ringing') type = 'call.ringing';
  else if (status === 'answered') type = 'call.answered';
  else if (status in ENDED) type = 'call.ended';
  else return { kind: 'ignore', reason: `status "${status.slice(0, 32)}" carries no call state` };
  if (!p.from || !p.to)
    return { kind: 'ignore', reason: `status "${status.slice(0, 32)}" without from/to cannot be shown` };
  const parties = partiesOf(p.from, p.to, p.direction === 'outbound' ? 'outbound' : 'inbound');
  const call: CallEvent['call'] = {
    id: callIdOf(p.conversation_uuid),
    direction: parties.direction,
    from: parties.from,
    to: parties.to,
  };
  if (type === 'call.ended') {
    const duration = seconds(p.duration ?? undefined);
    // A completed leg that lasted was answered, even if its `answered` event is late or lost: say so, or
    // the state machine would call it missed.
    const outcome = status === 'completed' && duration ? 'answered' : ENDED[status];
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
      occurredAt: isoTime(p.timestamp ?? undefined, receivedAt),
    },
    // Vonage has no event id; a retry repeats leg, status and timestamp.
    dedupeKey: `${p.uuid ?? p.conversation_uuid}:${status}:${p.timestamp ?? ''}`,
  };
};
