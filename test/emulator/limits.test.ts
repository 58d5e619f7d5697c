/**
 * DynamoDB's item and request limits ("Quotas in Amazon DynamoDB"), with its own error messages.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontHarness, rejection, sizedItem, startFront, stateLikeTable } from './harness';

let h: FrontHarness;
beforeAll(async () => {
  h = await startFront();
  await h.createTable(stateLikeTable('one'));
  await h.createTable(stateLikeTable('two'));
});
afterAll(() => h.stop());

const MAX = 400 * 1024;

describe('the 400 KB item limit', () => {
  it('takes an item of exactly 400 KB and refuses one byte more, leaving nothing stored', async () => {
    await h.doc.send(new PutCommand({ TableName: 'one', Item: sizedItem('big', 'ok', MAX) }));
    const error = await rejection(
      h.doc.send(new PutCommand({ TableName: 'one', Item: sizedItem('big', 'no', MAX + 1) })),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Item size has exceeded the maximum allowed size');
    expect(
      (await h.doc.send(new GetCommand({ TableName: 'one', Key: { pk: 'big', sk: 'no' } }))).Item,
    ).toBeUndefined();
  });

  it('counts text in UTF-8 bytes, as DynamoDB does (dynalite counts UTF-16 units)', async () => {
    // 'é' is one UTF-16 unit but two UTF-8 bytes: this item is under 400 KB for dynalite, over for DynamoDB.
    const item = { pk: 'utf8', sk: 'x', pad: 'é'.repeat(MAX / 2) };
    const error = await rejection(h.doc.send(new PutCommand({ TableName: 'one', Item: item })));
    expect(error.message).toBe('Item size has exceeded the maximum allowed size');
  });

  it('refuses an update that would grow an item past 400 KB and keeps the item as it was', async () => {
    await h.doc.send(new PutCommand({ TableName: 'one', Item: sizedItem('grow', 'x', 300 * 1024) }));
    const error = await rejection(
      h.doc.send(
        new UpdateCommand({
          TableName: 'one',
          Key: { pk: 'grow', sk: 'x' },
          UpdateExpression: 'SET more = :m',
          ExpressionAttributeValues: { ':m': 'é'.repeat(60 * 1024) },
        }),
      ),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Item size to update has exceeded the maximum allowed size');
    const stored = await h.doc.send(
      new GetCommand({ TableName: 'one', Key: { pk: 'grow', sk: 'x' }, ConsistentRead: true }),
    );
    expect(stored.Item?.more).toBeUndefined();
  });

  it('refuses an oversized item inside a batch', async () => {
    const error = await rejection(
      h.doc.send(
        new BatchWriteCommand({
          RequestItems: { one: [{ PutRequest: { Item: sizedItem('b', 'x', MAX + 1) } }] },
        }),
      ),
    );
    expect(error.message).toBe('Item size has exceeded the maximum allowed size');
  });
});

describe('Query pages', () => {
  it('stop at 1 MB of items and hand back LastEvaluatedKey', async () => {
    for (let i = 0; i < 4; i++) {
      await h.doc.send(new PutCommand({ TableName: 'two', Item: sizedItem('page', `i${i}`, 390 * 1024) }));
    }
    const first = await h.doc.send(
      new QueryCommand({
        TableName: 'two',
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'page' },
      }),
    );
    expect(first.Count).toBeLessThan(4);
    expect(first.LastEvaluatedKey).toBeDefined();
    const rest = await h.doc.send(
      new QueryCommand({
        TableName: 'two',
        KeyConditionExpression: 'pk = :p',
        ExpressionAttributeValues: { ':p': 'page' },
        ExclusiveStartKey: first.LastEvaluatedKey,
      }),
    );
    expect((first.Count ?? 0) + (rest.Count ?? 0)).toBe(4);
  });
});

describe('batch and transaction sizes', () => {
  const puts = (n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => ({ PutRequest: { Item: { pk: `${prefix}${i}`, sk: 'x' } } }));

  it('BatchWriteItem takes 25 requests and refuses 26, even split across tables', async () => {
    await h.doc.send(new BatchWriteCommand({ RequestItems: { one: puts(13, 'a'), two: puts(12, 'a') } }));
    const error = await rejection(
      h.doc.send(new BatchWriteCommand({ RequestItems: { one: puts(13, 'b'), two: puts(13, 'b') } })),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Too many items requested for the BatchWriteItem call');
  });

  it('BatchGetItem refuses more than 100 keys, in one table or across several', async () => {
    const keys = (n: number) => Array.from({ length: n }, (_, i) => ({ pk: `k${i}`, sk: 'x' }));
    const one = await rejection(
      h.doc.send(new BatchGetCommand({ RequestItems: { one: { Keys: keys(101) } } })),
    );
    expect(one.name).toBe('ValidationException');
    expect(one.message).toMatch(/Member must have length less than or equal to 100/);
    const split = await rejection(
      h.doc.send(new BatchGetCommand({ RequestItems: { one: { Keys: keys(60) }, two: { Keys: keys(41) } } })),
    );
    expect(split.message).toBe('Too many items requested for the BatchGetItem call');
  });

  it('TransactWriteItems takes 100 items and refuses 101', async () => {
    const items = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => ({
        Put: { TableName: 'one', Item: { pk: `${prefix}${i}`, sk: 'x' } },
      }));
    await h.doc.send(new TransactWriteCommand({ TransactItems: items(100, 't') }));
    const error = await rejection(h.doc.send(new TransactWriteCommand({ TransactItems: items(101, 'u') })));
    expect(error.name).toBe('ValidationException');
    expect(error.message).toMatch(/Member must have length less than or equal to 100/);
  });
});
