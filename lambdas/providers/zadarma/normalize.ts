/**
 * Zadarma PBX call notifications → CallEvent. Fields: zadarma/user-api-v1 lib/Webhook/*.php and
 * zadarma.com/en/support/api/#api_webhooks. `pbx_call_id` is the same for every notification of one call.
 *
 * `call_start` is local time in the PBX's own time zone with no offset, so it orders nothing and is used
 * only in the de-duplication key; events are timed by their arrival.
 */
import * as v from 'valibot';
import type { CallEvent, CallOutcome } from '../../core/protocol';
import { callIdOf, partiesOf, seconds } from '../parties';
import type { Normalized } from '../port';

const str = v.optional(v.string());

export const ZadarmaPayloadSchema = v.looseObject({
  event: v.string('expected the notification event'),
  pbx_call_id: v.pipe(
    v.string('expected pbx_call_id'),
    v.regex(/^[\x21-\x7e]{1,128}$/, 'expected a PBX call id'),
  ),
  call_start: str,
  caller_id: str,
  called_did: str,
  destination: str,
  internal: str,
  duration: str,
  disposition: str,
  is_recorded: str,
  call_id_with_rec: str,
});
export type ZadarmaPayload = v.InferOutput<typeof ZadarmaPayloadSchema>;

/** `disposition` values per NotifyEnd.php. */
const DISPOSITION: Record<string, CallOutcome> = {
  answered: 'answered',
  busy: 'busy',
  cancel: 'missed',
  'no answer': 'missed',
  failed: 'failed',
  'no money': 'failed',
  'unallocated number': 'failed',
  'no limit': 'failed',
  'no day limit': 'failed',
  'line limit': 'failed',
  'no money, no limit': 'failed',
};

export const normalizeZadarma = (p: ZadarmaPayload, receivedAt: number): Normalized => {
  const occurredAt = new Date(receivedAt).toISOString();
  let type: CallEvent['type'];
  let direction: CallEvent['call']['direction'] = 'inbound';
  let from = p.caller_id;
  let to = p.called_did;
  switch (p.event) {
    case 'NOTIFY_START':
      // Names no extension yet; NOTIFY_INTERNAL follows with the one that rings.
      return {
        kind: 'ignore',
        reason: 'NOTIFY_START names no extension; the pop-up follows NOTIFY_INTERNAL',
      };
    case 'NOTIFY_INTERNAL':
      type = 'call.ringing';
      break;
    case 'NOTIFY_ANSWER':
      type = 'call.answered';
      to = p.destination;
      break;
    case 'NOTIFY_END':
      type = 'call.ended';
      break;
    case 'NOTIFY_OUT_START':
      type = 'call.ringing';
      direction = 'outbound';
      from = p.caller_id || p.internal;
      to = p.destination;
      break;
    case 'NOTIFY_OUT_END':
      type = 'call.ended';
      direction = 'outbound';
      from = p.caller_id || p.internal;
      to = p.destination;
      break;
    case 'NOTIFY_RECORD':
      return {
        kind: 'ignore',
        reason: `recording ${p.call_id_with_rec ?? ''} of call ${p.pbx_call_id}: Zadarma sends no URL (it is fetched with the API) and a recording after the call ended is not applied`,
      };
    default:
      return { kind: 'ignore', reason: `${p.event.slice(0, 32)} carries no call state` };
  }
  const parties = partiesOf(from, to, direction, p.internal);
  // partiesOf may flip direction on a SIP URI; Zadarma's event names the direction for sure.
  const call: CallEvent['call'] = {
    id: callIdOf(p.pbx_call_id),
    direction,
    from: parties.from,
    to: parties.to,
  };
  if (type === 'call.ended') {
    const outcome = p.disposition ? DISPOSITION[p.disposition] : undefined;
    if (outcome) call.outcome = outcome;
    const duration = seconds(p.duration);
    if (duration !== undefined) call.duration = duration;
  }
  return {
    kind: 'event',
    event: {
      version: 1,
      type,
      call,
      ...(parties.agents ? { agents: parties.agents } : {}),
      occurredAt,
    },
    // Zadarma has no event id and signs no time: its natural key is all that marks a retry.
    dedupeKey: `${p.event}:${p.pbx_call_id}:${p.call_start ?? ''}:${p.internal ?? ''}`,
  };
};
