/**
 * The AMI events the call tracker reads, validated at the edge: a frame that names an event we use but lacks a
 * field we need is "malformed" and skipped (logged by the caller), never half-applied. Events we do not use are
 * passed over without a word; a busy PBX sends dozens of kinds (VarSet, Newexten, RTCP…) per call.
 *
 * Field names follow the AMI v2 documentation (Asterisk 12+), lower-cased because the AMI library lower-cases
 * header names; `Linkedid` is the call-correlation key ("Uniqueid of the oldest channel associated with this
 * channel").
 */
import * as v from 'valibot';

/** One AMI frame as plain strings, header names lower-cased. */
export type AmiRecord = Record<string, string>;

const str = v.string();
const channelBlock = {
  channel: str,
  uniqueid: v.pipe(str, v.minLength(1)),
  linkedid: v.pipe(str, v.minLength(1)),
  callerid: v.optional(str),
  calleridnum: v.optional(str),
  context: v.optional(str),
  exten: v.optional(str),
  channelstatedesc: v.optional(str),
  application: v.optional(str),
  timestamp: v.optional(str),
};
const destBlock = {
  destchannel: v.pipe(str, v.minLength(1)),
  destuniqueid: v.pipe(str, v.minLength(1)),
  destlinkedid: v.optional(str),
  destcalleridnum: v.optional(str),
  destexten: v.optional(str),
  destcontext: v.optional(str),
  destchannelstatedesc: v.optional(str),
};

const schemas = {
  Newchannel: v.looseObject(channelBlock),
  Newstate: v.looseObject(channelBlock),
  NewCallerid: v.looseObject(channelBlock),
  Newexten: v.looseObject({ ...channelBlock, application: v.optional(str) }),
  VarSet: v.looseObject({ ...channelBlock, variable: str, value: v.optional(str) }),
  DialBegin: v.looseObject({ ...channelBlock, ...destBlock, dialstring: v.optional(str) }),
  DialEnd: v.looseObject({ ...channelBlock, ...destBlock, dialstatus: v.pipe(str, v.minLength(1)) }),
  Hangup: v.looseObject({ ...channelBlock, cause: v.optional(str) }),
  BridgeEnter: v.looseObject({ ...channelBlock, bridgeuniqueid: v.pipe(str, v.minLength(1)) }),
  BridgeLeave: v.looseObject({ ...channelBlock, bridgeuniqueid: v.pipe(str, v.minLength(1)) }),
  BridgeDestroy: v.looseObject({ bridgeuniqueid: v.pipe(str, v.minLength(1)) }),
  AgentCalled: v.looseObject({
    ...channelBlock,
    ...destBlock,
    queue: v.optional(str),
    interface: v.optional(str),
    membername: v.optional(str),
  }),
  AgentConnect: v.looseObject({
    ...channelBlock,
    ...destBlock,
    queue: v.optional(str),
    interface: v.optional(str),
    membername: v.optional(str),
  }),
  AgentRingNoAnswer: v.looseObject({
    ...channelBlock,
    ...destBlock,
    queue: v.optional(str),
    interface: v.optional(str),
    membername: v.optional(str),
  }),
  BlindTransfer: v.looseObject({
    result: str,
    transfererchannel: v.pipe(str, v.minLength(1)),
    transfereruniqueid: v.pipe(str, v.minLength(1)),
    transfererlinkedid: v.pipe(str, v.minLength(1)),
    transfereechannel: v.optional(str),
    transfereeuniqueid: v.optional(str),
    extension: v.optional(str),
  }),
  AttendedTransfer: v.looseObject({
    result: str,
    origtransfererchannel: v.pipe(str, v.minLength(1)),
    origtransfereruniqueid: v.pipe(str, v.minLength(1)),
    origtransfererlinkedid: v.pipe(str, v.minLength(1)),
    origbridgeuniqueid: v.optional(str),
    secondtransfererchannel: v.optional(str),
    secondtransfereruniqueid: v.optional(str),
    secondtransfererlinkedid: v.optional(str),
    secondbridgeuniqueid: v.optional(str),
    desttype: v.optional(str),
  }),
  CoreShowChannel: v.looseObject({ ...channelBlock, bridgeid: v.optional(str) }),
} as const;

export type AmiEventName = keyof typeof schemas;
export type AmiEventOf<N extends AmiEventName> = v.InferOutput<(typeof schemas)[N]> & { event: N };
export type AmiEvent = { [N in AmiEventName]: AmiEventOf<N> }[AmiEventName];

export type ParsedAmiEvent =
  | { kind: 'event'; event: AmiEvent }
  | { kind: 'ignored' }
  | { kind: 'malformed'; eventName: string; reason: string };

const names = new Map<string, AmiEventName>(
  (Object.keys(schemas) as AmiEventName[]).map((name) => [name.toLowerCase(), name]),
);

/**
 * A frame from the AMI library: repeated headers arrive as arrays, and `Variable`/`ChanVariable` headers as
 * objects split at "=" (so VarSet's `Variable: MIXMONITOR_FILENAME` arrives as `{MIXMONITOR_FILENAME: ''}`):
 * put those back as the line Asterisk sent.
 */
export const flattenFrame = (frame: Record<string, unknown>): AmiRecord => {
  const record: AmiRecord = {};
  for (const [key, value] of Object.entries(frame)) {
    if (typeof value === 'string') record[key.toLowerCase()] = value;
    else if (Array.isArray(value) && typeof value[0] === 'string') record[key.toLowerCase()] = value[0];
    else if (value && typeof value === 'object') {
      const [first] = Object.entries(value as Record<string, unknown>);
      if (first) record[key.toLowerCase()] = first[1] === '' ? first[0] : `${first[0]}=${String(first[1])}`;
    }
  }
  return record;
};

export const parseAmiEvent = (record: AmiRecord): ParsedAmiEvent => {
  const raw = record.event;
  if (!raw) return { kind: 'malformed', eventName: '(none)', reason: 'frame has no Event header' };
  const name = names.get(raw.trim().toLowerCase());
  if (!name) return { kind: 'ignored' };
  const result = v.safeParse(schemas[name], record);
  if (!result.success) {
    const issue = result.issues[0];
    const field = issue?.path?.map((p) => String(p.key)).join('.') ?? '(frame)';
    return { kind: 'malformed', eventName: name, reason: `${field}: ${issue?.message ?? 'invalid'}` };
  }
  return { kind: 'event', event: { ...result.output, event: name } as AmiEvent };
};
