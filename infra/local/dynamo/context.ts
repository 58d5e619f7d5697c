/**
 * What a request is served with: the caller, the front's parts, and the helpers every operation shares
 * (current item images, capacity in replies, partition references for the throttle).
 */
import type { Backend } from './backend';
import { type Charge, consumedCapacity } from './capacity';
import type { IndexLag } from './index-lag';
import type { KeyLocks } from './key-locks';
import { type Body, type Item, isRecord } from './protocol';
import { type Catalog, partitionText, type TableShape } from './schema';
import type { CallerCredential } from './sigv4';
import type { PartitionRef } from './throttle';

export interface Reply {
  status: number;
  body: Body;
  requestId?: string;
}

export type CapacityLevel = 'TOTAL' | 'INDEXES' | undefined;

export const levelOf = (body: Body): CapacityLevel =>
  body.ReturnConsumedCapacity === 'TOTAL' || body.ReturnConsumedCapacity === 'INDEXES'
    ? body.ReturnConsumedCapacity
    : undefined;

export const withoutCapacityRequest = (body: Body): Body => {
  const { ReturnConsumedCapacity: _ignored, ...rest } = body;
  return rest;
};

/** The context a request is served in: who called, and what the front holds. */
export interface FrontContext {
  backend: Backend;
  catalog: Catalog;
  locks: KeyLocks;
  lag: IndexLag;
  caller: CallerCredential;
  /** Refuses the request when one of these partitions has no capacity left. */
  admit(kind: 'read' | 'write', shape: TableShape, refs: PartitionRef[]): void;
  /** Takes the charges from their keys' throttle buckets. */
  charge(charges: readonly Charge[]): void;
  /** Records the charges in the tally. */
  record(operation: string, charges: Charge[]): void;
  /** Both: takes the charges from the buckets and records them. */
  account(operation: string, charges: Charge[]): void;
}

export const indexRefs = (shape: TableShape, ...items: (Item | undefined)[]): PartitionRef[] =>
  shape.globalIndexes.flatMap((index) =>
    items.flatMap((item) => {
      const partition = partitionText(index, item);
      return partition === undefined ? [] : [{ table: shape.name, index: index.name, partition }];
    }),
  );

/** The current image of a key, or `invalid` when the key itself is malformed (the forwarded call says how). */
export const readImage = async (
  ctx: FrontContext,
  table: string,
  key: Item,
): Promise<Item | undefined | 'invalid'> => {
  const reply = await ctx.backend.send('GetItem', { TableName: table, Key: key, ConsistentRead: true });
  if (reply.status !== 200) return 'invalid';
  return isRecord(reply.body.Item) ? (reply.body.Item as Item) : undefined;
};

export const withCapacity = (
  reply: Reply,
  level: CapacityLevel,
  table: string,
  charges: readonly Charge[],
): Reply => {
  const { ConsumedCapacity: _dynalite, ...body } = reply.body;
  return {
    ...reply,
    body: level ? { ...body, ConsumedCapacity: consumedCapacity(table, charges, level) } : body,
  };
};

export const withBatchCapacity = (
  reply: Reply,
  level: CapacityLevel,
  tables: readonly string[],
  charges: readonly Charge[],
): Reply => {
  const { ConsumedCapacity: _dynalite, ...body } = reply.body;
  if (!level) return { ...reply, body };
  return {
    ...reply,
    body: { ...body, ConsumedCapacity: tables.map((t) => consumedCapacity(t, charges, level)) },
  };
};
