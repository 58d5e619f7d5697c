/**
 * Single-item operations: GetItem charged on the whole item, Query and Scan (index reads served from the
 * lagging shadow), and PutItem/UpdateItem/DeleteItem charged on the larger of the before and after images,
 * with their index writes, under a per-key lock.
 */
import type { BackendReply } from './backend';
import { type Charge, type ReadMode, readUnits, writeCharges } from './capacity';
import {
  type FrontContext,
  indexRefs,
  levelOf,
  type Reply,
  readImage,
  withCapacity,
  withoutCapacityRequest,
} from './context';
import { shadowName } from './index-lag';
import { itemBytes, MAX_ITEM_BYTES } from './item-size';
import { UPDATE_TOO_LARGE } from './limits';
import { type Body, type Item, isRecord, scalarText, validationError } from './protocol';
import { type KeyShape, keyText, partitionText, primaryKey } from './schema';
import type { PartitionRef } from './throttle';

export const getItem = async (ctx: FrontContext, body: Body): Promise<Reply> => {
  const table = String(body.TableName);
  const shape = await ctx.catalog.get(table);
  const key = isRecord(body.Key) ? (body.Key as Item) : undefined;
  if (!shape || !key) return ctx.backend.send('GetItem', body);
  const partition = partitionText(shape, key) ?? '';
  ctx.admit('read', shape, [{ table, index: undefined, partition }]);
  const reply = await ctx.backend.send('GetItem', withoutCapacityRequest(body));
  if (reply.status !== 200) return reply;
  // A projection does not lower the charge: DynamoDB charges the whole item.
  const whole = projects(body)
    ? await ctx.backend.getItem(table, key)
    : (reply.body.Item as Item | undefined);
  const mode: ReadMode = body.ConsistentRead === true ? 'strong' : 'eventual';
  const charges: Charge[] = [
    { table, index: undefined, partition, rcu: readUnits(itemBytes(whole), mode), wcu: 0 },
  ];
  ctx.account('GetItem', charges);
  return withCapacity(reply, levelOf(body), table, charges);
};

const projects = (body: Body) =>
  body.ProjectionExpression !== undefined || body.AttributesToGet !== undefined;

export const queryOrScan = async (ctx: FrontContext, operation: string, body: Body): Promise<Reply> => {
  const table = String(body.TableName);
  const shape = await ctx.catalog.get(table);
  if (!shape) return ctx.backend.send(operation, body);
  const indexName = typeof body.IndexName === 'string' ? body.IndexName : undefined;
  const index = shape.globalIndexes.find((i) => i.name === indexName);
  let target = table;
  if (index && ctx.lag.applies(shape)) {
    await ctx.lag.prepare(shape);
    target = shadowName(table);
  }
  const keys: KeyShape = index ?? shape;
  const partition = operation === 'Query' ? keyConditionPartition(body, keys.hash) : '(scan)';
  const ref: PartitionRef = { table, index: indexName, partition };
  // A Query reads one partition and is throttled with it; a Scan spreads over all of them.
  if (operation === 'Query') ctx.admit('read', shape, [ref]);
  // dynalite already sums the items a Query or Scan evaluated (before any filter or projection) per 4 KB.
  const reply = await ctx.backend.send(operation, {
    ...body,
    TableName: target,
    ReturnConsumedCapacity: 'TOTAL',
  });
  if (reply.status !== 200) return renameShadow(reply, table);
  const consumed = isRecord(reply.body.ConsumedCapacity)
    ? Number(reply.body.ConsumedCapacity.CapacityUnits)
    : 0;
  const mode: ReadMode = body.ConsistentRead === true ? 'strong' : 'eventual';
  // An empty result still costs the minimum read of each partition searched.
  const rcu = Math.max(consumed, readUnits(0, mode));
  const charges: Charge[] = [{ ...ref, rcu, wcu: 0 }];
  if (operation === 'Query') ctx.account(operation, charges);
  else ctx.record(operation, charges);
  return withCapacity(reply, levelOf(body), table, charges);
};

/** The partition key value a Query names (`#pk = :pk` in KeyConditionExpression, or legacy KeyConditions). */
export const keyConditionPartition = (body: Body, hashName: string): string => {
  if (isRecord(body.KeyConditions)) {
    const condition = body.KeyConditions[hashName];
    const list =
      isRecord(condition) && Array.isArray(condition.AttributeValueList) ? condition.AttributeValueList : [];
    return scalarText(list[0]) ?? '';
  }
  const names = isRecord(body.ExpressionAttributeNames) ? body.ExpressionAttributeNames : {};
  const values = isRecord(body.ExpressionAttributeValues) ? body.ExpressionAttributeValues : {};
  const resolve = (token: string) => (token.startsWith('#') ? String(names[token]) : token);
  const expression = String(body.KeyConditionExpression ?? '').replace(/[()]/g, ' ');
  for (const clause of expression.split(/\s+AND\s+/i)) {
    const match = /^\s*(\S+)\s*=\s*(\S+)\s*$/.exec(clause);
    if (!match?.[1] || !match[2]) continue;
    const [left, right] = [match[1], match[2]];
    if (resolve(left) === hashName && right.startsWith(':')) return scalarText(values[right]) ?? '';
    if (resolve(right) === hashName && left.startsWith(':')) return scalarText(values[left]) ?? '';
  }
  return '';
};

const renameShadow = (reply: BackendReply, table: string): BackendReply => {
  const text = JSON.stringify(reply.body).split(shadowName(table)).join(table);
  return { ...reply, body: JSON.parse(text) as Body };
};

export const writeItem = async (ctx: FrontContext, operation: string, body: Body): Promise<Reply> => {
  const table = String(body.TableName);
  const shape = await ctx.catalog.get(table);
  const given = operation === 'PutItem' ? body.Item : body.Key;
  if (!shape || !isRecord(given)) return ctx.backend.send(operation, body);
  const key = primaryKey(shape, given as Item);
  if (ctx.lag.applies(shape)) await ctx.lag.prepare(shape);
  return ctx.locks.with([`${table}|${keyText(shape, key)}`], async () => {
    const before = await readImage(ctx, table, key);
    if (before === 'invalid') return ctx.backend.send(operation, body);
    const newItem = operation === 'PutItem' ? (given as Item) : undefined;
    const partition = partitionText(shape, key) ?? '';
    ctx.admit('write', shape, [{ table, index: undefined, partition }, ...indexRefs(shape, before, newItem)]);
    const reply = await ctx.backend.send(operation, withoutCapacityRequest(body));
    if (reply.status !== 200) {
      // A failed condition still costs the write of the item as it stands (1 unit when absent).
      if (String(reply.body.__type).endsWith('#ConditionalCheckFailedException')) {
        ctx.account(operation, writeCharges(shape, before, before).slice(0, 1));
      }
      return reply;
    }
    const after =
      operation === 'DeleteItem' ? undefined : (newItem ?? (await ctx.backend.getItem(table, key)));
    if (operation === 'UpdateItem' && itemBytes(after) > MAX_ITEM_BYTES) {
      await ctx.backend.restore(table, key, before);
      ctx.lag.written(shape, [key]);
      throw validationError(UPDATE_TOO_LARGE);
    }
    const charges = writeCharges(shape, before, after);
    ctx.account(operation, charges);
    ctx.lag.written(shape, [key]);
    return withCapacity(reply, levelOf(body), table, charges);
  });
};
