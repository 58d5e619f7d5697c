/**
 * Pure mapping from our call record to what Kommo's APIs take (kommo-server.md §2–§5). No I/O: the worker
 * decides what to send; this decides what it says.
 */
import type { CallRecord } from '../core/call-state';
import type { CrmSettings } from './settings';

/** Kommo's `call_status` (§2.1). */
export const CALL_STATUS = {
  leftMessage: 1,
  callBackLater: 2,
  notAvailable: 3,
  conversation: 4,
  invalidNumber: 5,
  noAnswer: 6,
  busy: 7,
} as const;

/** The outcome of an ended call as Kommo's call_status. */
export const callStatusOf = (record: Pick<CallRecord, 'call'>): number => {
  switch (record.call.outcome) {
    case 'answered':
      return CALL_STATUS.conversation;
    case 'busy':
      return CALL_STATUS.busy;
    case 'voicemail':
      return CALL_STATUS.leftMessage;
    case 'failed':
      return CALL_STATUS.notAvailable;
    default:
      return CALL_STATUS.noAnswer;
  }
};

/** The number on the other side of the line: the caller of an inbound call, the callee of an outbound one. */
export const otherParty = (record: Pick<CallRecord, 'call'>): string =>
  record.call.direction === 'inbound' ? record.call.from : record.call.to;

/** Kommo matches the last 10 digits (calls), our task index uses the same key. */
export const phoneKey = (phone: string): string => phone.replace(/\D/g, '').slice(-10);

export const isMissedInbound = (record: Pick<CallRecord, 'call' | 'state'>): boolean =>
  record.state === 'ended' && record.call.direction === 'inbound' && record.call.outcome !== 'answered';

export const isAnswered = (record: Pick<CallRecord, 'call' | 'state'>): boolean =>
  record.state === 'ended' && record.call.outcome === 'answered';

/** Who took the call, else the first user rung: Kommo's `call_responsible` and `created_by`. */
export const responsibleOf = (record: Pick<CallRecord, 'answeredBy' | 'users'>): number | undefined =>
  record.answeredBy?.[0] ?? record.users[0];

const seconds = (iso: string | undefined, fallbackMs: number): number => {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  return Math.floor((Number.isFinite(ms) ? ms : fallbackMs) / 1000);
};

/** When the call started, in unix seconds (Kommo's `created_at`). */
export const startedAtSeconds = (record: Pick<CallRecord, 'call' | 'occurredAt'>, nowMs: number): number =>
  seconds(record.call.startedAt ?? record.call.answeredAt ?? record.occurredAt, nowMs);

export interface KommoCallEntry {
  direction: 'inbound' | 'outbound';
  uniq: string;
  duration: number;
  source: string;
  phone: string;
  link?: string;
  call_status: number;
  call_responsible?: number;
  created_by?: number;
  created_at: number;
  request_id: string;
}

/** One `POST /api/v4/calls` item; optional fields are omitted rather than null (Kommo rejects nulls, §2.1). */
export const callEntryOf = (
  record: CallRecord,
  settings: Pick<CrmSettings, 'sourceName'>,
  requestId: string,
  nowMs: number,
): KommoCallEntry => {
  const responsible = responsibleOf(record);
  return {
    direction: record.call.direction,
    uniq: record.callId,
    duration: record.call.outcome === 'answered' ? (record.call.duration ?? 0) : 0,
    source: settings.sourceName,
    phone: otherParty(record),
    ...(record.call.recordingUrl ? { link: record.call.recordingUrl } : {}),
    call_status: callStatusOf(record),
    ...(responsible !== undefined ? { call_responsible: responsible, created_by: responsible } : {}),
    created_at: startedAtSeconds(record, nowMs),
    request_id: requestId,
  };
};

/** A stable `source_uid` per call: Kommo refuses a second incoming lead with the same one (§4.3). */
export const unsortedUidOf = (callId: string): string => `callbridge-${callId}`.slice(0, 128);

/** One `POST /api/v4/leads/unsorted/sip` item; the caller's number in both `from` and `phone` (§4.2). */
export const unsortedLeadOf = (
  record: CallRecord,
  settings: Pick<CrmSettings, 'sourceName'>,
  requestId: string,
  nowMs: number,
) => {
  const number = otherParty(record);
  const responsible = responsibleOf(record);
  const calledAt = startedAtSeconds(record, nowMs);
  return {
    request_id: requestId,
    source_uid: unsortedUidOf(record.callId),
    source_name: settings.sourceName,
    created_at: calledAt,
    metadata: {
      is_call_event_needed: true,
      uniq: record.callId,
      duration: record.call.outcome === 'answered' ? (record.call.duration ?? 0) : 0,
      service_code: 'callbridge',
      ...(record.call.recordingUrl ? { link: record.call.recordingUrl } : {}),
      phone: number,
      from: number,
      called_at: calledAt,
      ...(responsible !== undefined ? { call_responsible: responsible } : {}),
    },
    _embedded: { leads: [{ name: `Call from ${number}` }], contacts: [{ name: number }] },
  };
};

/** "Call back +1 555 123 4567": the number as the phone system gave it. */
export const taskTextOf = (record: Pick<CallRecord, 'call'>): string => `Call back ${otherParty(record)}`;

/** The task's user: the contact's responsible user, else the agent who was rung, else the duty user. */
export const taskResponsibleOf = (
  contactResponsible: number | undefined,
  record: Pick<CallRecord, 'answeredBy' | 'users'>,
  settings: Pick<CrmSettings, 'dutyUserId'>,
): number | undefined => contactResponsible ?? responsibleOf(record) ?? settings.dutyUserId;

/** Kommo's call response names the entity in the singular; tasks want the plural (§5). */
export const taskEntityType = (entityType: string): 'leads' | 'contacts' | 'companies' | 'customers' => {
  if (entityType === 'lead' || entityType === 'leads') return 'leads';
  if (entityType === 'company' || entityType === 'companies') return 'companies';
  if (entityType === 'customer' || entityType === 'customers') return 'customers';
  return 'contacts';
};

/** When a missed call's task is due: its end plus the delay, in unix seconds. */
export const taskDueOf = (
  record: Pick<CallRecord, 'call' | 'occurredAt'>,
  settings: Pick<CrmSettings, 'taskDelayMinutes'>,
  nowMs: number,
): number => seconds(record.call.endedAt ?? record.occurredAt, nowMs) + settings.taskDelayMinutes * 60;
