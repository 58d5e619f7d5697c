/**
 * Capacity charged as AWS documents it ("DynamoDB read and write operations"; "Provisioned throughput
 * considerations for global secondary indexes"), checked through the real SDK against the front.
 */
import {
  BatchGetCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontHarness, rejection, sizedItem, startFront, stateLikeTable } from './harness';

let h: FrontHarness;
const T = 'cap';

beforeAll(async () => {
  h = await startFront();
  await h.createTable(stateLikeTable(T));
});
afterAll(() => h.stop());

const get = (pk: string, sk: string, consistent: boolean) =>
  h.doc.send(
    new GetCommand({
      TableName: T,
      Key: { pk, sk },
      ConsistentRead: consistent,
      ReturnConsumedCapacity: 'TOTAL',
    }),
  );

describe('reads', () => {
  it('a 3.5 KB item: 1 RCU strongly consistent, 0.5 eventually consistent; a 10 KB item rounds to 12 KB', async () => {
    await h.doc.send(new PutCommand({ TableName: T, Item: sizedItem('r1', 'a', 3500) }));
    await h.doc.send(new PutCommand({ TableName: T, Item: sizedItem('r1', 'b', 10 * 1024) }));
    expect((await get('r1', 'a', true)).ConsumedCapacity).toEqual({
      TableName: T,
      CapacityUnits: 1,
      ReadCapacityUnits: 1,
    });
    expect((await get('r1', 'a', false)).ConsumedCapacity?.CapacityUnits).toBe(0.5);
    expect((await get('r1', 'b', true)).ConsumedCapacity?.CapacityUnits).toBe(3);
    expect((await get('r1', 'b', false)).ConsumedCapacity?.CapacityUnits).toBe(1.5);
  });

  it('a missing item still costs one read; a projection does not lower the charge', async () => {
    expect((await get('r1', 'missing', true)).ConsumedCapacity?.CapacityUnits).toBe(1);
    const projected = await h.doc.send(
      new GetCommand({
        TableName: T,
        Key: { pk: 'r1', sk: 'b' },
        ProjectionExpression: 'pk',
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(projected.Item).toEqual({ pk: 'r1' });
    expect(projected.ConsumedCapacity?.CapacityUnits).toBe(3);
  });

  it('a Query sums its items before rounding: 100 items of 100 bytes = ceil(10,000 B / 4 KB) = 3 RCU', async () => {
    for (let i = 0; i < 100; i++) {
      await h.doc.send(
        new PutCommand({ TableName: T, Item: sizedItem('q', `i${String(i).padStart(3, '0')}`, 100) }),
      );
    }
    const strong = await h.doc.send(
      new QueryCommand({
        TableName: T,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'q' },
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(strong.Count).toBe(100);
    expect(strong.ConsumedCapacity?.CapacityUnits).toBe(3);
    const eventual = await h.doc.send(
      new QueryCommand({
        TableName: T,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'q' },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(eventual.ConsumedCapacity?.CapacityUnits).toBe(1.5);
    // The filter runs after the read: the same items are charged though none is returned.
    const filtered = await h.doc.send(
      new QueryCommand({
        TableName: T,
        KeyConditionExpression: 'pk = :p',
        FilterExpression: '#pad = :none',
        ExpressionAttributeNames: { '#pad': 'pad' },
        ExpressionAttributeValues: { ':p': 'q', ':none': 'zzz' },
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(filtered.Count).toBe(0);
    expect(filtered.ConsumedCapacity?.CapacityUnits).toBe(3);
  });

  it('an empty Query still costs the minimum read', async () => {
    const empty = await h.doc.send(
      new QueryCommand({
        TableName: T,
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'nobody' },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(empty.ConsumedCapacity?.CapacityUnits).toBe(0.5);
  });

  it('BatchGetItem rounds each item: 1.5 KB + 6.5 KB = 4 KB + 8 KB = 3 RCU', async () => {
    await h.doc.send(new PutCommand({ TableName: T, Item: sizedItem('b1', 'x', 1536) }));
    await h.doc.send(new PutCommand({ TableName: T, Item: sizedItem('b2', 'x', 6656) }));
    const out = await h.doc.send(
      new BatchGetCommand({
        RequestItems: {
          [T]: {
            Keys: [
              { pk: 'b1', sk: 'x' },
              { pk: 'b2', sk: 'x' },
            ],
            ConsistentRead: true,
          },
        },
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(out.Responses?.[T]).toHaveLength(2);
    expect(out.ConsumedCapacity).toEqual([{ TableName: T, CapacityUnits: 3, ReadCapacityUnits: 3 }]);
  });
});

describe('writes', () => {
  const put = (item: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    h.doc.send(new PutCommand({ TableName: T, Item: item, ReturnConsumedCapacity: 'INDEXES', ...extra }));

  it('a 1.5 KB write costs 2 WCU; a 500-byte write 1 WCU', async () => {
    expect((await put(sizedItem('w1', 'a', 1536))).ConsumedCapacity?.CapacityUnits).toBe(2);
    expect((await put(sizedItem('w1', 'b', 500))).ConsumedCapacity?.CapacityUnits).toBe(1);
  });

  it('overwriting charges the larger of the old and new item', async () => {
    await put(sizedItem('w2', 'a', 3000));
    expect((await put(sizedItem('w2', 'a', 100))).ConsumedCapacity?.CapacityUnits).toBe(3);
  });

  it('an item entering the GSI costs one index write; a changed index key costs two; leaving costs one', async () => {
    const entering = await put({ pk: 'g1', sk: 'C', gsi1pk: 'A#acme#C', gsi1sk: '7#g1' });
    expect(entering.ConsumedCapacity).toEqual({
      TableName: T,
      CapacityUnits: 2,
      WriteCapacityUnits: 2,
      Table: { CapacityUnits: 1, WriteCapacityUnits: 1 },
      GlobalSecondaryIndexes: { byAccount: { CapacityUnits: 1, WriteCapacityUnits: 1 } },
    });
    const moved = await h.doc.send(
      new UpdateCommand({
        TableName: T,
        Key: { pk: 'g1', sk: 'C' },
        UpdateExpression: 'SET gsi1pk = :a',
        ExpressionAttributeValues: { ':a': 'A#globex#C' },
        ReturnConsumedCapacity: 'INDEXES',
      }),
    );
    expect(moved.ConsumedCapacity?.GlobalSecondaryIndexes?.byAccount?.CapacityUnits).toBe(2);
    const leaving = await h.doc.send(
      new UpdateCommand({
        TableName: T,
        Key: { pk: 'g1', sk: 'C' },
        UpdateExpression: 'REMOVE gsi1pk',
        ReturnConsumedCapacity: 'INDEXES',
      }),
    );
    expect(leaving.ConsumedCapacity?.GlobalSecondaryIndexes?.byAccount?.CapacityUnits).toBe(1);
    const outside = await h.doc.send(
      new UpdateCommand({
        TableName: T,
        Key: { pk: 'g1', sk: 'C' },
        UpdateExpression: 'SET n = :n',
        ExpressionAttributeValues: { ':n': 1 },
        ReturnConsumedCapacity: 'INDEXES',
      }),
    );
    expect(outside.ConsumedCapacity?.GlobalSecondaryIndexes).toBeUndefined();
    expect(outside.ConsumedCapacity?.CapacityUnits).toBe(1);
  });

  it('a failed condition still costs a write, tallied against its key', async () => {
    const mark = h.front.capacity.mark();
    const error = await rejection(
      put({ pk: 'w2', sk: 'a', v: 1 }, { ConditionExpression: 'attribute_not_exists(pk)' }),
    );
    expect(error.name).toBe('ConditionalCheckFailedException');
    const summary = h.front.capacity.summary(mark);
    expect(summary.busiestWrite).toMatchObject({ key: `${T}|w2`, wcu: 1 });
  });

  it('a transactional write costs double', async () => {
    const out = await h.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: T, Item: sizedItem('t1', 'a', 1536) } },
          { Put: { TableName: T, Item: sizedItem('t2', 'a', 500) } },
        ],
        ReturnConsumedCapacity: 'TOTAL',
      }),
    );
    expect(out.ConsumedCapacity).toEqual([{ TableName: T, CapacityUnits: 6, WriteCapacityUnits: 6 }]);
  });
});

describe('the tally', () => {
  it('names the busiest key of a stretch of work, table and index alike', async () => {
    const mark = h.front.capacity.mark();
    for (let i = 0; i < 3; i++) {
      await h.doc.send(
        new PutCommand({
          TableName: T,
          Item: { pk: `conn${i}`, sk: 'C', gsi1pk: 'A#hot#C', gsi1sk: `${i}` },
        }),
      );
    }
    await get('conn0', 'C', true);
    const busiest = h.front.capacity.busiestKey(mark);
    expect(busiest.write).toMatchObject({ key: `${T}/index/byAccount|A#hot#C`, wcu: 3, requests: 3 });
    expect(busiest.read).toMatchObject({ key: `${T}|conn0`, rcu: 1 });
    expect(h.front.capacity.records(mark).map((r) => r.operation)).toEqual([
      'PutItem',
      'PutItem',
      'PutItem',
      'GetItem',
    ]);
  });
});
