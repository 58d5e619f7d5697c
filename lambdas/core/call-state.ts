/**
 * Per-call state: a call only moves forward (ringing → answered → ended). Providers retry and reorder
 * webhooks, so a late `call.ringing` after `call.ended` must be recorded and dropped, never pushed.
 */
import { CALL_STATES, type Call, type CallEvent, type CallState, type CallView } from './protocol';

export interface CallRecord {
  callId: string;
  state: CallState;
  call: Call;
  /** When the current state began, per the provider. */
  occurredAt: string;
  /** Every Kommo user told of this call so far, so later states reach them even if the provider narrows `agents`. */
  users: number[];
  /** The webhook that moved the call into its current state; a retry of that same webhook re-delivers. */
  appliedBy: string;
  /** Optimistic-locking counter for the store. */
  version: number;
  /** The seq of the message announcing the current state; set when the record is saved. */
  seq?: number;
}

export type CallDecision =
  | { kind: 'ignored'; reason: string }
  /** `redelivery`: this webhook already moved the call; deliver again (idempotent per user) without saving. */
  | { kind: 'apply'; record: CallRecord; redelivery: boolean };

export const stateOf = (type: CallEvent['type']): CallState => {
  switch (type) {
    case 'call.ringing':
      return 'ringing';
    case 'call.answered':
      return 'answered';
    case 'call.ended':
      return 'ended';
  }
};

const rank = (state: CallState): number => CALL_STATES.indexOf(state);

/** Fill what the provider left out: an inbound call that ended without an answer was missed. */
const completeCall = (previous: Call | undefined, event: CallEvent, answered: boolean): Call => {
  const call: Call = { ...previous, ...event.call };
  if (event.type === 'call.answered' && !call.answeredAt) call.answeredAt = event.occurredAt;
  if (event.type === 'call.ringing' && !call.startedAt) call.startedAt = event.occurredAt;
  if (event.type === 'call.ended') {
    if (!call.endedAt) call.endedAt = event.occurredAt;
    if (!call.outcome) call.outcome = answered ? 'answered' : 'missed';
    if (call.duration === undefined && call.answeredAt) {
      const seconds = Math.round((Date.parse(call.endedAt) - Date.parse(call.answeredAt)) / 1000);
      if (Number.isFinite(seconds) && seconds >= 0) call.duration = seconds;
    }
  }
  return call;
};

/**
 * Decide what an incoming event does to a call.
 * @param current the stored record, if any
 * @param users the users this event is addressed to (already resolved)
 */
export const decide = (
  current: CallRecord | undefined,
  event: CallEvent,
  webhookId: string,
  users: readonly number[],
): CallDecision => {
  const next = stateOf(event.type);
  if (current) {
    if (current.appliedBy === webhookId) return { kind: 'apply', record: current, redelivery: true };
    if (rank(next) <= rank(current.state)) {
      return {
        kind: 'ignored',
        reason:
          next === current.state
            ? `call ${current.callId} is already ${current.state}`
            : `call ${current.callId} is already ${current.state}; ${event.type} arrived late`,
      };
    }
  }
  const answered = next === 'answered' || current?.state === 'answered' || event.call.outcome === 'answered';
  const record: CallRecord = {
    callId: event.call.id,
    state: next,
    call: completeCall(current?.call, event, answered),
    occurredAt: event.occurredAt,
    users: [...new Set([...(current?.users ?? []), ...users])].sort((a, b) => a - b),
    appliedBy: webhookId,
    version: (current?.version ?? 0) + 1,
  };
  return { kind: 'apply', record, redelivery: false };
};

export const viewOf = (record: Pick<CallRecord, 'state' | 'call' | 'occurredAt'>): CallView => ({
  state: record.state,
  call: record.call,
  occurredAt: record.occurredAt,
});

export const isActive = (state: CallState): boolean => state !== 'ended';
