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
  /** Who took the call, when the phone system named them: the others' pop-ups end there. A transfer moves it. */
  answeredBy?: number[];
  /** The webhook that moved the call into its current state; a retry of that same webhook re-delivers. */
  appliedBy: string;
  /** Optimistic-locking counter for the store. */
  version: number;
  /** The seq of the message announcing the current state; set when the record is saved. */
  seq?: number;
  /** When the server last heard of the call (epoch ms); a call left too long without news is ended. */
  updatedAt?: number;
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

/** What identifies a call is fixed by its first event: a later one may add facts, never change these. */
const IDENTITY = ['id', 'direction', 'from', 'to'] as const;
/** Facts a later event of the same state may add when they were missing (a recording after the end). */
const AMENDABLE = ['recordingUrl', 'duration', 'answeredAt', 'endedAt', 'startedAt'] as const;

/** Fill what the provider left out: an inbound call that ended without an answer was missed. */
const completeCall = (previous: Call | undefined, event: CallEvent, answered: boolean): Call => {
  const call: Call = { ...previous, ...event.call };
  if (previous) for (const field of IDENTITY) (call as Record<string, unknown>)[field] = previous[field];
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

const sameSet = (a: readonly number[] | undefined, b: readonly number[] | undefined) =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((x) => (b ?? []).includes(x));

export interface DecideOptions {
  /** The event named its agents (extensions or users) rather than ringing everyone. */
  addressed?: boolean;
}

/**
 * Decide what an incoming event does to a call.
 *
 * A call only moves forward (ringing → answered → ended); an event of the state the call is already in
 * changes it only when it brings something new: agents not yet rung (a ring group's next member), another
 * agent taking an answered call (a transfer), or a fact the call lacked (a recording that arrives after the
 * end). Anything else is recorded as ignored and never pushed.
 *
 * @param current the stored record, if any
 * @param users the users this event is addressed to (already resolved)
 */
export const decide = (
  current: CallRecord | undefined,
  event: CallEvent,
  webhookId: string,
  users: readonly number[],
  options: DecideOptions = {},
): CallDecision => {
  const next = stateOf(event.type);
  const addressed = options.addressed ?? true;
  const allUsers = [...new Set([...(current?.users ?? []), ...users])].sort((a, b) => a - b);
  if (current) {
    if (current.appliedBy === webhookId) return { kind: 'apply', record: current, redelivery: true };
    if (rank(next) < rank(current.state)) {
      return {
        kind: 'ignored',
        reason: `call ${current.callId} is already ${current.state}; ${event.type} arrived late`,
      };
    }
    if (next === current.state) {
      const newUsers = allUsers.length > current.users.length;
      const transfer =
        next === 'answered' && addressed && users.length > 0 && !sameSet(users, current.answeredBy);
      const call = { ...current.call };
      let amended = false;
      for (const field of AMENDABLE) {
        const value = event.call[field];
        if (value !== undefined && call[field] === undefined) {
          (call as Record<string, unknown>)[field] = value;
          amended = true;
        }
      }
      if (!newUsers && !transfer && !amended) {
        return { kind: 'ignored', reason: `call ${current.callId} is already ${current.state}` };
      }
      return {
        kind: 'apply',
        record: {
          ...current,
          call,
          users: allUsers,
          ...(transfer ? { answeredBy: [...users].sort((a, b) => a - b), occurredAt: event.occurredAt } : {}),
          appliedBy: webhookId,
          version: current.version + 1,
          seq: undefined,
        },
        redelivery: false,
      };
    }
  }
  const answered = next === 'answered' || current?.state === 'answered' || event.call.outcome === 'answered';
  const answeredBy =
    next === 'answered' && addressed && users.length > 0
      ? [...users].sort((a, b) => a - b)
      : current?.answeredBy;
  const record: CallRecord = {
    callId: current?.callId ?? event.call.id,
    state: next,
    call: completeCall(current?.call, event, answered),
    occurredAt: event.occurredAt,
    users: allUsers,
    ...(answeredBy ? { answeredBy } : {}),
    appliedBy: webhookId,
    version: (current?.version ?? 0) + 1,
  };
  return { kind: 'apply', record, redelivery: false };
};

export const viewOf = (
  record: Pick<CallRecord, 'state' | 'call' | 'occurredAt' | 'answeredBy'>,
): CallView => ({
  state: record.state,
  call: record.call,
  occurredAt: record.occurredAt,
  ...(record.answeredBy ? { answeredBy: record.answeredBy } : {}),
});

export const isActive = (state: CallState): boolean => state !== 'ended';
