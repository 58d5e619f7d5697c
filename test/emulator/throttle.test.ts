/**
 * A hot partition key is throttled on AWS past 3,000 RCU/s or 1,000 WCU/s, on-demand tables included. The
 * front enforces per-key token buckets; these tests lower the limits so a handful of calls reach them.
 */
import { BatchGetCommand, BatchWriteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontHarness, rejection, startFront, stateLikeTable } from './harness';

describe('per-partition limits', () => {
  let h: FrontHarness;
  // The throttle's clock stands still unless a test moves it, so bucket levels are exact.
  let now = 1_000_000;
  beforeAll(async () => {
    h = await startFront({
      throughput: { readPerSecond: 4, writePerSecond: 3 },
      region: 'eu-west-1',
      accountId: '123456789012',
      now: () => now,
    });
    await h.createTable(stateLikeTable('ondemand'));
    await h.createTable(stateLikeTable('provisioned', 'PROVISIONED'));
  });
  afterAll(() => h.stop());

  const put = (table: string, pk: string, extra: Record<string, unknown> = {}) =>
    h.doc.send(new PutCommand({ TableName: table, Item: { pk, sk: 'x', ...extra } }));

  it('an on-demand table answers a hot key with ThrottlingException, and other keys keep working', async () => {
    for (let i = 0; i < 3; i++) await put('ondemand', 'hot');
    const error = await rejection(put('ondemand', 'hot'));
    expect(error.name).toBe('ThrottlingException');
    expect(error.message).toMatch(/^Throughput exceeds the current capacity of your table or index\./);
    expect(error.ThrottlingReasons).toEqual([
      {
        reason: 'TableWriteKeyRangeThroughputExceeded',
        resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/ondemand',
      },
    ]);
    await put('ondemand', 'cold');
    // The bucket refills at the limit's rate (3 a second): a third of a second buys one more write.
    now += 333;
    await put('ondemand', 'hot');
    expect((await rejection(put('ondemand', 'hot'))).name).toBe('ThrottlingException');
  });

  it('reads and writes have separate buckets', async () => {
    for (let i = 0; i < 3; i++) await put('ondemand', 'rw');
    for (let i = 0; i < 4; i++) {
      await h.doc.send(
        new GetCommand({ TableName: 'ondemand', Key: { pk: 'rw', sk: 'x' }, ConsistentRead: true }),
      );
    }
    const error = await rejection(
      h.doc.send(new GetCommand({ TableName: 'ondemand', Key: { pk: 'rw', sk: 'x' }, ConsistentRead: true })),
    );
    expect(error.name).toBe('ThrottlingException');
    expect((error.ThrottlingReasons as { reason: string }[])[0]?.reason).toBe(
      'TableReadKeyRangeThroughputExceeded',
    );
  });

  it('a hot GSI partition throttles the table writes that feed it', async () => {
    for (let i = 0; i < 3; i++) await put('ondemand', `conn${i}`, { gsi1pk: 'A#busy#C', gsi1sk: `${i}` });
    const error = await rejection(put('ondemand', 'conn9', { gsi1pk: 'A#busy#C', gsi1sk: '9' }));
    expect(error.name).toBe('ThrottlingException');
    expect(error.message).toMatch(
      /^Throughput exceeds the current capacity for one or more global secondary indexes/,
    );
    expect((error.ThrottlingReasons as { reason: string }[])[0]?.reason).toBe(
      'IndexWriteKeyRangeThroughputExceeded',
    );
  });

  it('a provisioned table answers ProvisionedThroughputExceededException instead', async () => {
    for (let i = 0; i < 3; i++) await put('provisioned', 'hot');
    const error = await rejection(put('provisioned', 'hot'));
    expect(error.name).toBe('ProvisionedThroughputExceededException');
  });

  it('BatchWriteItem hands back the throttled items as UnprocessedItems and writes the rest', async () => {
    const writes = ['b-hot', 'b-hot2', 'b-hot3', 'b-hot4'].map((sk) => ({
      PutRequest: { Item: { pk: 'batch', sk } },
    }));
    const cold = { PutRequest: { Item: { pk: 'batch-cold', sk: 'x' } } };
    const out = await h.doc.send(new BatchWriteCommand({ RequestItems: { ondemand: [...writes, cold] } }));
    expect(out.UnprocessedItems?.ondemand).toEqual([writes[3]]);
    const stored = await h.doc.send(
      new GetCommand({ TableName: 'ondemand', Key: { pk: 'batch-cold', sk: 'x' } }),
    );
    expect(stored.Item).toBeDefined();
  });

  it('BatchGetItem hands back the keys of a hot partition as UnprocessedKeys', async () => {
    for (const sk of ['r1', 'r2']) {
      await h.doc.send(new PutCommand({ TableName: 'ondemand', Item: { pk: 'reads', sk } }));
    }
    for (let i = 0; i < 4; i++) {
      await h.doc.send(
        new GetCommand({ TableName: 'ondemand', Key: { pk: 'reads', sk: 'r1' }, ConsistentRead: true }),
      );
    }
    const out = await h.doc.send(
      new BatchGetCommand({
        RequestItems: {
          ondemand: {
            Keys: [
              { pk: 'reads', sk: 'r2' },
              { pk: 'batch-cold', sk: 'x' },
            ],
            ConsistentRead: true,
          },
        },
      }),
    );
    expect(out.Responses?.ondemand?.map((i) => i.pk)).toEqual(['batch-cold']);
    expect(out.UnprocessedKeys?.ondemand?.Keys).toEqual([{ pk: 'reads', sk: 'r2' }]);
    expect(out.UnprocessedKeys?.ondemand?.ConsistentRead).toBe(true);
  });

  it('one BatchGetItem cannot read more of one partition than its bucket holds', async () => {
    const keys = Array.from({ length: 6 }, (_, i) => ({ pk: 'many', sk: `k${i}` }));
    const out = await h.doc.send(
      new BatchGetCommand({ RequestItems: { ondemand: { Keys: keys, ConsistentRead: true } } }),
    );
    // 4 RCU a second, 1 RCU per strongly consistent key (present or not): four read, two handed back.
    expect(out.UnprocessedKeys?.ondemand?.Keys).toEqual(keys.slice(4));
  });

  it('the SDK retries a throttled call by itself', async () => {
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const retrying = new DynamoDBClient({
      endpoint: h.front.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      maxAttempts: 10,
    });
    const doc = DynamoDBDocumentClient.from(retrying);
    const mark = h.front.capacity.mark();
    const put = () => doc.send(new PutCommand({ TableName: 'ondemand', Item: { pk: 'retried', sk: 'x' } }));
    // The clock stands still: three writes empty the key's bucket exactly.
    for (let i = 0; i < 3; i++) expect((await put()).$metadata.attempts).toBe(1);
    // The fourth is refused; a second later (real 200 ms, well after that first attempt) the SDK's
    // backed-off retry finds the bucket refilled.
    const refill = setTimeout(() => {
      now += 1000;
    }, 200);
    const fourth = await put();
    clearTimeout(refill);
    const attempts = [fourth.$metadata.attempts ?? 0];
    retrying.destroy();
    expect(attempts[0]).toBeGreaterThan(1);
    expect(h.front.capacity.summary(mark).busiestWrite).toMatchObject({ key: 'ondemand|retried', wcu: 4 });
  });
});

describe('limits off (the default)', () => {
  let h: FrontHarness;
  beforeAll(async () => {
    h = await startFront();
    await h.createTable(stateLikeTable('free'));
  });
  afterAll(() => h.stop());

  it('never throttles', async () => {
    for (let i = 0; i < 50; i++)
      await h.doc.send(new PutCommand({ TableName: 'free', Item: { pk: 'hot', sk: String(i) } }));
    expect(h.front.capacity.busiestKey().write).toMatchObject({ key: 'free|hot', wcu: 50 });
  });
});
