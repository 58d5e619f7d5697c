/**
 * BatchGetItem and BatchWriteItem: each item charged on its own (rounded per item), keys whose partition
 * is out of capacity returned as Unprocessed, and the whole call throttled only when no key could be served,
 * as DynamoDB does.
 */
import { type Charge, type ReadMode, readUnits, writeCharges } from './capacity';
import {
  type FrontContext,
  indexRefs,
  levelOf,
  type Reply,
  readImage,
  withBatchCapacity,
  withoutCapacityRequest,
} from './context';
import { itemBytes } from './item-size';
import { type Body, FrontError, type Item, isRecord } from './protocol';
import { keyText, partitionText, primaryKey, type TableShape } from './schema';

interface Keyed {
  shape: TableShape;
  key: Item;
}

export const batchGet = async (ctx: FrontContext, body: Body): Promise<Reply> => {
  const requestItems = isRecord(body.RequestItems) ? body.RequestItems : {};
  const admitted: Record<string, Record<string, unknown>> = {};
  const unprocessed: Record<string, Record<string, unknown>> = {};
  const wanted: { shape: TableShape; key: Item; mode: ReadMode }[] = [];
  let throttled: FrontError | undefined;
  for (const [table, request] of Object.entries(requestItems)) {
    const shape = await ctx.catalog.get(table);
    if (!shape || !isRecord(request) || !Array.isArray(request.Keys))
      return ctx.backend.send('BatchGetItem', body);
    const mode: ReadMode = request.ConsistentRead === true ? 'strong' : 'eventual';
    for (const key of request.Keys as Item[]) {
      try {
        const partition = partitionText(shape, key) ?? '';
        ctx.admit('read', shape, [{ table, index: undefined, partition }]);
        // The least this key can cost is taken at once, so the batch's later keys on the same partition see it.
        ctx.charge([{ table, index: undefined, partition, rcu: readUnits(0, mode), wcu: 0 }]);
        wanted.push({ shape, key, mode });
        pushKey(admitted, table, request, key);
      } catch (error) {
        if (!(error instanceof FrontError)) throw error;
        throttled = error;
        pushKey(unprocessed, table, request, key);
      }
    }
  }
  // DynamoDB throttles the whole call only when no key at all could be read.
  if (throttled && wanted.length === 0) throw throttled;
  const reply = await ctx.backend.send('BatchGetItem', {
    ...withoutCapacityRequest(body),
    RequestItems: admitted,
  });
  if (reply.status !== 200) return reply;
  const left = isRecord(reply.body.UnprocessedKeys) ? reply.body.UnprocessedKeys : {};
  const skipped = new Set(
    Object.entries(left).flatMap(([table, r]) => {
      const shape = wanted.find((w) => w.shape.name === table)?.shape;
      const keys = isRecord(r) && Array.isArray(r.Keys) ? (r.Keys as Item[]) : [];
      return shape ? keys.map((k) => `${table}|${keyText(shape, k)}`) : [];
    }),
  );
  const read = wanted.filter((w) => !skipped.has(`${w.shape.name}|${keyText(w.shape, w.key)}`));
  const charges = await Promise.all(
    read.map(async ({ shape, key, mode }): Promise<Charge> => {
      const whole = await ctx.backend.getItem(shape.name, key);
      const charge: Charge = {
        table: shape.name,
        index: undefined,
        partition: partitionText(shape, key) ?? '',
        rcu: readUnits(itemBytes(whole), mode),
        wcu: 0,
      };
      // The minimum was taken at admission; the rest now.
      ctx.charge([{ ...charge, rcu: charge.rcu - readUnits(0, mode) }]);
      return charge;
    }),
  );
  ctx.record('BatchGetItem', charges);
  for (const [table, request] of Object.entries(unprocessed)) left[table] = mergeKeys(left[table], request);
  reply.body.UnprocessedKeys = left;
  return withBatchCapacity(reply, levelOf(body), Object.keys(requestItems), charges);
};

const pushKey = (
  into: Record<string, Record<string, unknown>>,
  table: string,
  request: Record<string, unknown>,
  key: Item,
) => {
  const { Keys: _keys, ...rest } = request;
  const entry = into[table] ?? { ...rest, Keys: [] };
  (entry.Keys as Item[]).push(key);
  into[table] = entry;
};

const mergeKeys = (existing: unknown, extra: Record<string, unknown>) => {
  if (!isRecord(existing) || !Array.isArray(existing.Keys)) return extra;
  return { ...existing, Keys: [...existing.Keys, ...(extra.Keys as Item[])] };
};

export const batchWrite = async (ctx: FrontContext, body: Body): Promise<Reply> => {
  const requestItems = isRecord(body.RequestItems) ? body.RequestItems : {};
  const writes: (Keyed & { request: Record<string, unknown>; item: Item | undefined })[] = [];
  for (const [table, list] of Object.entries(requestItems)) {
    const shape = await ctx.catalog.get(table);
    if (!shape || !Array.isArray(list)) return ctx.backend.send('BatchWriteItem', body);
    if (ctx.lag.applies(shape)) await ctx.lag.prepare(shape);
    for (const request of list) {
      if (!isRecord(request)) return ctx.backend.send('BatchWriteItem', body);
      const put =
        isRecord(request.PutRequest) && isRecord(request.PutRequest.Item)
          ? (request.PutRequest.Item as Item)
          : undefined;
      const del =
        isRecord(request.DeleteRequest) && isRecord(request.DeleteRequest.Key)
          ? (request.DeleteRequest.Key as Item)
          : undefined;
      const given = put ?? del;
      if (!given) return ctx.backend.send('BatchWriteItem', body);
      writes.push({ shape, key: primaryKey(shape, given), request, item: put });
    }
  }
  const lockKeys = writes.map((w) => `${w.shape.name}|${keyText(w.shape, w.key)}`);
  return ctx.locks.with(lockKeys, async () => {
    const befores = await Promise.all(writes.map((w) => readImage(ctx, w.shape.name, w.key)));
    if (befores.includes('invalid')) return ctx.backend.send('BatchWriteItem', body);
    const admitted: Record<string, unknown[]> = {};
    const unprocessed: Record<string, unknown[]> = {};
    const done: { write: (typeof writes)[number]; charges: Charge[] }[] = [];
    let throttled: FrontError | undefined;
    writes.forEach((write, i) => {
      const before = befores[i] as Item | undefined;
      const table = write.shape.name;
      try {
        ctx.admit('write', write.shape, [
          { table, index: undefined, partition: partitionText(write.shape, write.key) ?? '' },
          ...indexRefs(write.shape, before, write.item),
        ]);
        admitted[table] = [...(admitted[table] ?? []), write.request];
        // Charged at once, so the batch's later items on the same key see the bucket this one leaves.
        const charges = writeCharges(write.shape, before, write.item);
        ctx.charge(charges);
        done.push({ write, charges });
      } catch (error) {
        if (!(error instanceof FrontError)) throw error;
        throttled = error;
        unprocessed[table] = [...(unprocessed[table] ?? []), write.request];
      }
    });
    if (throttled && done.length === 0) throw throttled;
    const reply = await ctx.backend.send('BatchWriteItem', {
      ...withoutCapacityRequest(body),
      RequestItems: admitted,
    });
    if (reply.status !== 200) return reply;
    ctx.record(
      'BatchWriteItem',
      done.flatMap((d) => d.charges),
    );
    for (const { write } of done) ctx.lag.written(write.shape, [write.key]);
    const left = isRecord(reply.body.UnprocessedItems) ? reply.body.UnprocessedItems : {};
    for (const [table, list] of Object.entries(unprocessed)) {
      left[table] = [...(Array.isArray(left[table]) ? left[table] : []), ...list];
    }
    reply.body.UnprocessedItems = left;
    return withBatchCapacity(
      reply,
      levelOf(body),
      Object.keys(requestItems),
      done.flatMap((d) => d.charges),
    );
  });
};
