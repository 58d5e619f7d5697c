/**
 * The one wire protocol of Callbridge, shared by the lambdas and the widget.
 *
 * - `CallEvent` is what a phone system POSTs to `/webhooks/{subdomain}` (version 1).
 * - `ServerMessage` is what the backend pushes to a widget socket (`v: 1`).
 * - `ClientMessage` is what a widget may send on its socket.
 *
 * Changes must be additive; a breaking change gets a new version number, because deployed widgets
 * stay cached in agents' browsers for days.
 */
import * as v from 'valibot';
import { canonicalHttpsUrl, MAX_URL_LENGTH } from './url';

export const CALL_EVENT_VERSION = 1;
export const PROTOCOL_VERSION = 1;

/** Largest webhook body we accept, in bytes. */
export const MAX_WEBHOOK_BYTES = 64 * 1024;
/** Largest message a widget may send; real messages are tiny, so anything bigger is abuse. */
export const MAX_CLIENT_MESSAGE_BYTES = 4 * 1024;

export const CALL_EVENT_TYPES = ['call.ringing', 'call.answered', 'call.ended'] as const;
export type CallEventType = (typeof CALL_EVENT_TYPES)[number];
export const CALL_OUTCOMES = ['answered', 'missed', 'busy', 'failed', 'voicemail'] as const;
export type CallOutcome = (typeof CALL_OUTCOMES)[number];

// Numbers and extensions reach Kommo's UI, so they are restricted to characters a dial string can hold:
// that alone rules out markup in a caller id.
const PHONE = /^[0-9A-Za-z+*#.@:_ ()-]{1,64}$/;
const EXTENSION = /^[0-9A-Za-z*#_.-]{1,32}$/;
const CALL_ID = /^[A-Za-z0-9._:@-]{1,128}$/;

const phone = v.pipe(
  v.string(),
  v.regex(PHONE, 'expected a phone number or extension of 1-64 characters from [0-9A-Za-z+*#.@:_ ()-]'),
);
const timestamp = v.pipe(
  v.string(),
  v.isoTimestamp('expected an ISO 8601 timestamp such as 2026-01-31T12:00:00Z'),
);
const duration = v.pipe(
  v.number('expected a number of seconds'),
  v.integer('expected a whole number of seconds'),
  v.minValue(0, 'expected 0 or more seconds'),
  v.maxValue(7 * 24 * 3600, 'expected at most one week in seconds'),
);
// The widget hands this link to Kommo: only a URL the parser would write the same way (see core/url.ts).
const recordingUrl = v.pipe(
  v.string(),
  v.maxLength(MAX_URL_LENGTH, `expected at most ${MAX_URL_LENGTH} characters`),
  v.check(
    (value) => canonicalHttpsUrl(value) !== undefined,
    'expected an https URL in canonical form (unchanged by new URL(); quotes, spaces and <> percent-encoded)',
  ),
);

export const CallSchema = v.strictObject({
  id: v.pipe(v.string(), v.regex(CALL_ID, 'expected 1-128 characters from [A-Za-z0-9._:@-]')),
  direction: v.picklist(['inbound', 'outbound'], 'expected "inbound" or "outbound"'),
  from: phone,
  to: phone,
  startedAt: v.optional(timestamp),
  answeredAt: v.optional(timestamp),
  endedAt: v.optional(timestamp),
  duration: v.optional(duration),
  outcome: v.optional(v.picklist(CALL_OUTCOMES, `expected one of ${CALL_OUTCOMES.join(', ')}`)),
  recordingUrl: v.optional(recordingUrl),
});
export type Call = v.InferOutput<typeof CallSchema>;

export const AgentsSchema = v.strictObject({
  extensions: v.optional(
    v.pipe(
      v.array(
        v.pipe(
          v.string(),
          v.regex(EXTENSION, 'expected an extension of 1-32 characters from [0-9A-Za-z*#_.-], no spaces'),
        ),
      ),
      v.maxLength(500, 'expected at most 500 extensions'),
    ),
  ),
  users: v.optional(
    v.pipe(
      v.array(
        v.pipe(v.number(), v.integer('expected a Kommo user id'), v.minValue(1, 'expected a Kommo user id')),
      ),
      v.maxLength(1000, 'expected at most 1000 users'),
    ),
  ),
});
export type Agents = v.InferOutput<typeof AgentsSchema>;

export const CallEventSchema = v.strictObject({
  version: v.literal(CALL_EVENT_VERSION, `expected ${CALL_EVENT_VERSION}`),
  type: v.picklist(CALL_EVENT_TYPES, `expected one of ${CALL_EVENT_TYPES.join(', ')}`),
  call: CallSchema,
  agents: v.optional(AgentsSchema),
  occurredAt: timestamp,
});
export type CallEvent = v.InferOutput<typeof CallEventSchema>;

/**
 * A recording that became available after the call (Twilio's recording callback, Zadarma's NOTIFY_RECORD, a
 * PBX that uploads later): it names only the call, which must exist, and adds its recording.
 */
export const RecordingEventSchema = v.strictObject({
  version: v.literal(CALL_EVENT_VERSION, `expected ${CALL_EVENT_VERSION}`),
  type: v.literal('call.recording'),
  call: v.strictObject({
    id: CallSchema.entries.id,
    recordingUrl,
    duration: v.optional(duration),
  }),
  occurredAt: timestamp,
});
export type RecordingEvent = v.InferOutput<typeof RecordingEventSchema>;

/** Anything a phone system may send: a call's state, or a late recording. */
export type IncomingEvent = CallEvent | RecordingEvent;

/** Call states in the order a call moves through them; a call never moves back. */
export const CALL_STATES = ['ringing', 'answered', 'ended'] as const;
export type CallState = (typeof CALL_STATES)[number];

/** What an agent's widget learns of a call: the merged call, its state and when that state began. */
export const CallViewSchema = v.object({
  state: v.picklist(CALL_STATES),
  call: CallSchema,
  occurredAt: timestamp,
  /** Who took the call, when known: for everyone else it is over (a ring group's other members, a transfer). */
  answeredBy: v.optional(v.array(v.number())),
});
export type CallView = v.InferOutput<typeof CallViewSchema>;

export const ServerMessageSchema = v.variant('type', [
  v.object({
    v: v.literal(PROTOCOL_VERSION),
    type: v.literal('call'),
    seq: v.number(),
    view: CallViewSchema,
  }),
  v.object({
    v: v.literal(PROTOCOL_VERSION),
    type: v.literal('snapshot'),
    seq: v.number(),
    /** The user's active calls, in their latest state. */
    calls: v.array(CallViewSchema),
    /** Calls of the user that ended within the retention window, in their final state (since protocol 1.1). */
    recent: v.optional(v.array(CallViewSchema)),
    /** A snapshot too large for one message comes in pages 1..pages; only the last completes it. */
    page: v.optional(v.number()),
    pages: v.optional(v.number()),
    /** More calls happened than a snapshot carries: the oldest were left out, and nothing pops for them. */
    gap: v.optional(v.boolean()),
  }),
  v.object({ v: v.literal(PROTOCOL_VERSION), type: v.literal('pong') }),
  v.object({
    v: v.literal(PROTOCOL_VERSION),
    type: v.literal('error'),
    code: v.string(),
    message: v.string(),
  }),
]);
export type ServerMessage = v.InferOutput<typeof ServerMessageSchema>;
export type CallMessage = Extract<ServerMessage, { type: 'call' }>;
export type SnapshotMessage = Extract<ServerMessage, { type: 'snapshot' }>;
export type ErrorMessage = Extract<ServerMessage, { type: 'error' }>;

export const ClientMessageSchema = v.variant(
  'action',
  [
    v.strictObject({ action: v.literal('ping') }),
    v.strictObject({
      action: v.literal('resume'),
      /**
       * The last seq this client saw. Since protocol 1.1 the answer is a snapshot of the user's calls in their
       * latest state (active and recently ended), whatever `after` says: a resume converges, it does not replay.
       */
      after: v.optional(
        v.pipe(
          v.number('expected the last seq seen'),
          v.integer('expected a whole number'),
          v.minValue(0, 'expected 0 or more'),
          v.maxValue(Number.MAX_SAFE_INTEGER, 'expected a safe integer'),
        ),
      ),
    }),
    /**
     * Since protocol 1.2: this user's tab showed the ringing call's pop-up (Kommo's `add_call`). Without it
     * within a couple of seconds the server rings Kommo's own bell for the user (a socket can be open at API
     * Gateway while its page is frozen or asleep). No answer on success; an error when the call was not offered
     * to this user.
     */
    v.strictObject({
      action: v.literal('ack'),
      callId: v.pipe(
        v.string('expected the call id of the pop-up'),
        v.regex(CALL_ID, 'expected the call id of the pop-up: 1-128 characters from [A-Za-z0-9._:@-]'),
      ),
      /** The highest seq the tab had heard when it showed the pop-up (for diagnostics; any seq is accepted). */
      seq: v.pipe(
        v.number('expected the seq of the message that brought the pop-up'),
        v.integer('expected a whole number'),
        v.minValue(0, 'expected 0 or more'),
        v.maxValue(Number.MAX_SAFE_INTEGER, 'expected a safe integer'),
      ),
    }),
  ],
  'expected an object with "action": "ping", "resume" or "ack"',
);
export type ClientMessage = v.InferOutput<typeof ClientMessageSchema>;

/** Error codes a widget may receive in `{type: 'error'}`. */
export type ClientErrorCode =
  | 'message_too_large'
  | 'malformed_json'
  | 'invalid_message'
  | 'unknown_connection'
  /** An `ack` for a call that was never offered to this socket's user. */
  | 'unknown_call'
  | 'internal_error'
  /** Past the socket's message or resume budget (see core/limits.ts): wait and retry; a flood is closed. */
  | 'rate_limited';

export const errorMessage = (code: ClientErrorCode, message: string): ErrorMessage => ({
  v: PROTOCOL_VERSION,
  type: 'error',
  code,
  message,
});

/**
 * Extra, optional field of the POST /tickets answer (additive: older widgets ignore it). Tells an admin's
 * widget that the Kommo installation must be authorized again; the widget raises one `add_error` for it.
 */
export interface TicketNotice {
  code: 'needs_reauthorization';
  message: string;
}

export const reauthorizationNotice = (): TicketNotice => ({
  code: 'needs_reauthorization',
  message:
    'Callbridge lost its access to this Kommo account (the integration was revoked or its authorization expired). Calls still pop up, but settings cannot be read from Kommo. To fix it, open Settings → Integrations → Callbridge and install it again.',
});

export interface FieldIssue {
  /** Dot path of the offending field, e.g. `call.from`; `(root)` for the whole document. */
  field: string;
  message: string;
}

/** Valibot issues in our terms: the field and what was expected there. */
export const describeIssues = (issues: readonly v.BaseIssue<unknown>[], max = 10): FieldIssue[] =>
  issues.slice(0, max).map((issue) => {
    const path = (issue.path ?? [])
      .map((item) => (typeof item.key === 'string' || typeof item.key === 'number' ? String(item.key) : '?'))
      .join('.');
    let message = issue.message;
    if (issue.type === 'strict_object' && issue.input !== undefined) message = 'unknown field; remove it';
    else if (issue.input === undefined && path)
      message = `required field is missing (expected ${issue.expected})`;
    return { field: path || '(root)', message };
  });

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

const isPlainObject = (input: unknown): input is Record<string, unknown> =>
  typeof input === 'object' && input !== null && !Array.isArray(input);

const notAnObject: ParseResult<never> = {
  ok: false,
  issues: [{ field: '(root)', message: 'expected a JSON object' }],
};

export const parseCallEvent = (input: unknown): ParseResult<IncomingEvent> => {
  if (!isPlainObject(input)) return notAnObject;
  const schema = input.type === 'call.recording' ? RecordingEventSchema : CallEventSchema;
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  return result.success
    ? { ok: true, value: result.output }
    : { ok: false, issues: describeIssues(result.issues) };
};

export const parseClientMessage = (input: unknown): ParseResult<ClientMessage> => {
  if (!isPlainObject(input)) return notAnObject;
  const result = v.safeParse(ClientMessageSchema, input, { abortPipeEarly: true });
  return result.success
    ? { ok: true, value: result.output }
    : { ok: false, issues: describeIssues(result.issues) };
};

export const parseServerMessage = (input: unknown): ParseResult<ServerMessage> => {
  const result = v.safeParse(ServerMessageSchema, input);
  return result.success
    ? { ok: true, value: result.output }
    : { ok: false, issues: describeIssues(result.issues) };
};
