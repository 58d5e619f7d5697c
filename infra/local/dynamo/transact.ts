/**
 * TransactWriteItems and TransactGetItems, which dynalite lacks. All keys of a transaction are held, every
 * item is applied in turn with its condition, and if any condition fails every applied item is put back and
 * the call answers TransactionCanceledException with one reason per item, as DynamoDB does. Transactional
 * items cost double ("Managing complex workflows with DynamoDB transactions", capacity section).
 * Other requests wait while a transaction runs (front.ts holds the Gate), so none sees it half applied.
 * Not modelled: ClientRequestToken idempotency.
 */
import { type Charge, consumedCapacity, readUnits, writeCharges } from './capacity';
import { type FrontContext, indexRefs, levelOf, type Reply, readImage } from './context';
import { itemBytes, MAX_ITEM_BYTES } from './item-size';
import { UPDATE_TOO_LARGE } from './limits';
import { type Body, FrontError, type Item, isRecord, validationError } from './protocol';
import { keyText, partitionText, primaryKey, type TableShape } from './schema';

type Kind = 'ConditionCheck' | 'Put' | 'Update' | 'Delete' | 'Get';

interface Op {
  kind: Kind;
  detail: Record<string, unknown>;
  shape: TableShape;
  key: Item;
}

const notFound = (): Reply => ({
  status: 400,
  body: {
    __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException',
    message: 'Requested resource not found',
  },
});

const parseOps = async (ctx: FrontContext, body: Body, kinds: readonly Kind[]): Promise<Op[] | Reply> => {
  const entries = Array.isArray(body.TransactItems) ? body.TransactItems.filter(isRecord) : [];
  if (entries.length === 0) {
    throw validationError(
      "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length greater than or equal to 1",
    );
  }
  const ops: Op[] = [];
  for (const entry of entries) {
    const [kind, detail] = Object.entries(entry)[0] ?? [];
    if (!kind || !kinds.includes(kind as Kind) || !isRecord(detail) || typeof detail.TableName !== 'string') {
      throw validationError(`Each TransactItems entry needs one of ${kinds.join(', ')} with a TableName`);
    }
    const shape = await ctx.catalog.get(detail.TableName);
    if (!shape) return notFound();
    const given = kind === 'Put' ? detail.Item : detail.Key;
    if (!isRecord(given)) throw validationError('The provided key element does not match the schema');
    ops.push({ kind: kind as Kind, detail, shape, key: primaryKey(shape, given as Item) });
  }
  const keys = ops.map((op) => `${op.shape.name}|${keyText(op.shape, op.key)}`);
  if (new Set(keys).size !== keys.length) {
    throw validationError('Transaction request cannot include multiple operations on one item');
  }
  return ops;
};

const lockKeys = (ops: readonly Op[]) => ops.map((op) => `${op.shape.name}|${keyText(op.shape, op.key)}`);

const PROBE = { '#dynamoFrontProbe': 'dynamo-front-probe' };

/** The single-item call that applies one transaction item with its condition. */
const applyCall = (op: Op): [string, Body] => {
  const { ReturnValuesOnConditionCheckFailure: _r, ...detail } = op.detail;
  switch (op.kind) {
    case 'Put':
      return ['PutItem', detail];
    case 'Update':
      return ['UpdateItem', detail];
    case 'Delete':
      return ['DeleteItem', detail];
    default:
      // A condition check is evaluated by a no-op update under the same condition, then undone.
      return [
        'UpdateItem',
        {
          ...detail,
          UpdateExpression: 'REMOVE #dynamoFrontProbe',
          ExpressionAttributeNames: {
            ...(isRecord(detail.ExpressionAttributeNames) ? detail.ExpressionAttributeNames : {}),
            ...PROBE,
          },
        },
      ];
  }
};

export const runTransactWrite = async (ctx: FrontContext, body: Body): Promise<Reply> => {
  const parsed = await parseOps(ctx, body, ['ConditionCheck', 'Put', 'Update', 'Delete']);
  if (!Array.isArray(parsed)) return parsed;
  const ops = parsed;
  for (const op of ops) if (ctx.lag.applies(op.shape)) await ctx.lag.prepare(op.shape);
  return ctx.locks.with(lockKeys(ops), async () => {
    const befores: (Item | undefined)[] = [];
    for (const op of ops) {
      const image = await readImage(ctx, op.shape.name, op.key);
      if (image === 'invalid') throw validationError('The provided key element does not match the schema');
      befores.push(image);
    }
    ops.forEach((op, i) => {
      const partition = partitionText(op.shape, op.key) ?? '';
      const newItem = op.kind === 'Put' ? (op.detail.Item as Item) : undefined;
      ctx.admit('write', op.shape, [
        { table: op.shape.name, index: undefined, partition },
        ...indexRefs(op.shape, befores[i], newItem),
      ]);
    });
    const applied: number[] = [];
    const reasons: Record<string, unknown>[] = [];
    const undo = async () => {
      for (const i of applied.reverse()) {
        const op = ops[i] as Op;
        await ctx.backend.restore(op.shape.name, op.key, befores[i]);
        // An index copy may have caught the key mid-transaction; a later one puts the index back in step.
        ctx.lag.written(op.shape, [op.key]);
      }
    };
    for (const [i, op] of ops.entries()) {
      const [operation, call] = applyCall(op);
      const reply = await ctx.backend.send(operation, call);
      if (reply.status === 200) {
        applied.push(i);
        reasons.push({ Code: 'None' });
        continue;
      }
      if (String(reply.body.__type).endsWith('#ConditionalCheckFailedException')) {
        const before = befores[i];
        const withItem = op.detail.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && before;
        reasons.push({
          Code: 'ConditionalCheckFailed',
          Message: 'The conditional request failed',
          ...(withItem ? { Item: before } : {}),
        });
        continue;
      }
      await undo();
      return reply;
    }
    if (reasons.some((r) => r.Code !== 'None')) {
      await undo();
      throw new FrontError({
        __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
        message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
        CancellationReasons: reasons,
      });
    }
    const afters: (Item | undefined)[] = [];
    for (const [i, op] of ops.entries()) {
      if (op.kind === 'ConditionCheck') {
        await ctx.backend.restore(op.shape.name, op.key, befores[i]);
        afters.push(befores[i]);
      } else if (op.kind === 'Put') afters.push(op.detail.Item as Item);
      else if (op.kind === 'Delete') afters.push(undefined);
      else afters.push(await ctx.backend.getItem(op.shape.name, op.key));
    }
    if (afters.some((item, i) => ops[i]?.kind === 'Update' && itemBytes(item) > MAX_ITEM_BYTES)) {
      applied.length = 0;
      applied.push(...ops.map((_, i) => i));
      await undo();
      throw validationError(UPDATE_TOO_LARGE);
    }
    const charges: Charge[] = ops.flatMap((op, i) =>
      op.kind === 'ConditionCheck'
        ? writeCharges(op.shape, befores[i], befores[i], true).slice(0, 1)
        : writeCharges(op.shape, befores[i], afters[i], true),
    );
    ctx.account('TransactWriteItems', charges);
    for (const op of ops) if (op.kind !== 'ConditionCheck') ctx.lag.written(op.shape, [op.key]);
    return { status: 200, body: capacityBody(body, ops, charges) };
  });
};

export const runTransactGet = async (ctx: FrontContext, body: Body): Promise<Reply> => {
  const parsed = await parseOps(ctx, body, ['Get']);
  if (!Array.isArray(parsed)) return parsed;
  const ops = parsed;
  for (const op of ops) {
    ctx.admit('read', op.shape, [
      { table: op.shape.name, index: undefined, partition: partitionText(op.shape, op.key) ?? '' },
    ]);
  }
  return ctx.locks.with(lockKeys(ops), async () => {
    const responses: Record<string, unknown>[] = [];
    const charges: Charge[] = [];
    for (const op of ops) {
      const reply = await ctx.backend.send('GetItem', { ...op.detail, ConsistentRead: true });
      if (reply.status !== 200) return reply;
      responses.push(isRecord(reply.body.Item) ? { Item: reply.body.Item } : {});
      const whole = await ctx.backend.getItem(op.shape.name, op.key);
      charges.push({
        table: op.shape.name,
        index: undefined,
        partition: partitionText(op.shape, op.key) ?? '',
        rcu: readUnits(itemBytes(whole), 'transactional'),
        wcu: 0,
      });
    }
    ctx.account('TransactGetItems', charges);
    return { status: 200, body: { ...capacityBody(body, ops, charges), Responses: responses } };
  });
};

const capacityBody = (body: Body, ops: readonly Op[], charges: readonly Charge[]): Body => {
  const level = levelOf(body);
  if (!level) return {};
  const tables = [...new Set(ops.map((op) => op.shape.name))];
  return { ConsumedCapacity: tables.map((t) => consumedCapacity(t, charges, level)) };
};
