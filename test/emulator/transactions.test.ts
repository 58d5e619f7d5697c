/**
 * TransactWriteItems/TransactGetItems, which dynalite lacks: all or nothing, with DynamoDB's cancellation
 * reasons, through the real SDK.
 */
import { GetCommand, PutCommand, TransactGetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FrontHarness, rejection, sizedItem, startFront, stateLikeTable } from './harness';

let h: FrontHarness;
const T = 'txn';
beforeAll(async () => {
  h = await startFront();
  await h.createTable(stateLikeTable(T));
});
afterAll(() => h.stop());

const read = async (pk: string) =>
  (await h.doc.send(new GetCommand({ TableName: T, Key: { pk, sk: 'x' }, ConsistentRead: true }))).Item;

it('applies every item or none, and names the failed condition', async () => {
  await h.doc.send(new PutCommand({ TableName: T, Item: { pk: 'seq', sk: 'x', n: 1 } }));
  const error = await rejection(
    h.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: T, Item: { pk: 'new', sk: 'x' } } },
          {
            Update: {
              TableName: T,
              Key: { pk: 'seq', sk: 'x' },
              UpdateExpression: 'SET n = :two',
              ExpressionAttributeValues: { ':two': 2 },
            },
          },
          {
            ConditionCheck: {
              TableName: T,
              Key: { pk: 'seq', sk: 'y' },
              ConditionExpression: 'attribute_exists(pk)',
            },
          },
        ],
      }),
    ),
  );
  expect(error.name).toBe('TransactionCanceledException');
  expect(error.message).toBe(
    'Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]',
  );
  expect((error.CancellationReasons as { Code: string }[]).map((r) => r.Code)).toEqual([
    'None',
    'None',
    'ConditionalCheckFailed',
  ]);
  expect(await read('new')).toBeUndefined();
  expect((await read('seq'))?.n).toBe(1);
  // A condition check on a missing item leaves no trace either.
  expect(
    (await h.doc.send(new GetCommand({ TableName: T, Key: { pk: 'seq', sk: 'y' }, ConsistentRead: true })))
      .Item,
  ).toBeUndefined();
});

it('commits when every condition holds', async () => {
  await h.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: { TableName: T, Item: { pk: 'a', sk: 'x' }, ConditionExpression: 'attribute_not_exists(pk)' },
        },
        {
          ConditionCheck: {
            TableName: T,
            Key: { pk: 'seq', sk: 'x' },
            ConditionExpression: 'n = :one',
            ExpressionAttributeValues: { ':one': 1 },
          },
        },
        { Delete: { TableName: T, Key: { pk: 'gone', sk: 'x' } } },
      ],
    }),
  );
  expect(await read('a')).toEqual({ pk: 'a', sk: 'x' });
  expect((await read('seq'))?.n).toBe(1);
});

it('refuses two operations on one item', async () => {
  const error = await rejection(
    h.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: T, Item: { pk: 'dup', sk: 'x' } } },
          { Delete: { TableName: T, Key: { pk: 'dup', sk: 'x' } } },
        ],
      }),
    ),
  );
  expect(error.name).toBe('ValidationException');
  expect(error.message).toBe('Transaction request cannot include multiple operations on one item');
});

it('TransactGetItems reads at double the cost', async () => {
  await h.doc.send(new PutCommand({ TableName: T, Item: sizedItem('g', 'x', 5000) }));
  const out = await h.doc.send(
    new TransactGetCommand({
      TransactItems: [
        { Get: { TableName: T, Key: { pk: 'g', sk: 'x' } } },
        { Get: { TableName: T, Key: { pk: 'none', sk: 'x' } } },
      ],
      ReturnConsumedCapacity: 'TOTAL',
    }),
  );
  expect(out.Responses?.[0]?.Item?.pk).toBe('g');
  expect(out.Responses?.[1]?.Item).toBeUndefined();
  // 5,000 bytes = two 4 KB units, x2 transactional; the missing item one unit, x2.
  expect(out.ConsumedCapacity).toEqual([{ TableName: T, CapacityUnits: 6, ReadCapacityUnits: 6 }]);
});

it('no read sees a transaction half applied, even one that is then cancelled', async () => {
  const items = Array.from({ length: 40 }, (_, i) => ({
    Put: { TableName: T, Item: { pk: `iso${i}`, sk: 'x' } },
  }));
  const cancelled = h.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        ...items,
        {
          ConditionCheck: {
            TableName: T,
            Key: { pk: 'never', sk: 'x' },
            ConditionExpression: 'attribute_exists(pk)',
          },
        },
      ],
    }),
  );
  let done = false;
  const outcome = cancelled.then(
    () => 'committed',
    (error: Error) => error.name,
  );
  void outcome.finally(() => {
    done = true;
  });
  const seen: boolean[] = [];
  while (!done) seen.push((await read('iso0')) !== undefined);
  expect(await outcome).toBe('TransactionCanceledException');
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.every((s) => !s)).toBe(true);
  expect(await read('iso0')).toBeUndefined();
});
