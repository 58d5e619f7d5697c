/** What every DynamoDB adapter shares: item time, number sets, the condition-failure test, shared keys. */

/** DynamoDB's TTL is in epoch seconds. */
export const epochSeconds = (ms: number) => Math.floor(ms / 1000);

/** A number set as the document client returns it (a Set), or a list written before sets were used. */
export const numberSet = (set: unknown): number[] =>
  set instanceof Set ? [...set].map(Number) : Array.isArray(set) ? set.map(Number) : [];

/** By name (see the SDK pitfalls): a class check fails across two copies of the SDK. */
export const isConditionFailure = (error: unknown): boolean =>
  error instanceof Error && error.name === 'ConditionalCheckFailedException';

/** A call's partition on the state table: its record (`CALL`) and its pop-up acks (`ACK`). */
export const callPartition = (sub: string, callId: string) => `A#${sub}#CALL#${callId}`;
