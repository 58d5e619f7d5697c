/**
 * Global secondary indexes lag their table on AWS; the front makes them lag by a set time, so a design that
 * reads an index right after writing the table fails here as it would there.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FrontHarness, rejection, sleep, startFront, stateLikeTable } from './harness';

const LAG = 150;
const T = 'lagging';

const byAccount = (h: FrontHarness, account: string) =>
  h.doc
    .send(
      new QueryCommand({
        TableName: T,
        IndexName: 'byAccount',
        KeyConditionExpression: 'gsi1pk = :a',
        ExpressionAttributeValues: { ':a': account },
      }),
    )
    .then((out) => (out.Items ?? []).map((item) => String(item.pk)).sort());

describe(`an index ${LAG} ms behind its table`, () => {
  let h: FrontHarness;
  beforeAll(async () => {
    h = await startFront({ indexLagMs: LAG });
    await h.createTable(stateLikeTable(T));
  });
  afterAll(() => h.stop());

  it('misses a new item within the lag while the table has it, and sees it after', async () => {
    await h.doc.send(
      new PutCommand({ TableName: T, Item: { pk: 'C#1', sk: 'C', gsi1pk: 'A#acme#C', gsi1sk: '7#1' } }),
    );
    const started = Date.now();
    expect(await byAccount(h, 'A#acme#C')).toEqual([]);
    expect(Date.now() - started).toBeLessThan(LAG);
    const base = await h.doc.send(
      new GetCommand({ TableName: T, Key: { pk: 'C#1', sk: 'C' }, ConsistentRead: true }),
    );
    expect(base.Item?.gsi1pk).toBe('A#acme#C');
    await sleep(LAG);
    await h.front.settle();
    expect(await byAccount(h, 'A#acme#C')).toEqual(['C#1']);
  });

  it('keeps answering from the old index key until a move arrives, then converges', async () => {
    await h.doc.send(
      new UpdateCommand({
        TableName: T,
        Key: { pk: 'C#1', sk: 'C' },
        UpdateExpression: 'SET gsi1pk = :g',
        ExpressionAttributeValues: { ':g': 'A#globex#C' },
      }),
    );
    expect(await byAccount(h, 'A#acme#C')).toEqual(['C#1']);
    expect(await byAccount(h, 'A#globex#C')).toEqual([]);
    await sleep(LAG);
    await h.front.settle();
    expect(await byAccount(h, 'A#acme#C')).toEqual([]);
    expect(await byAccount(h, 'A#globex#C')).toEqual(['C#1']);
  });

  it('still lists a deleted item within the lag', async () => {
    await h.doc.send(new DeleteCommand({ TableName: T, Key: { pk: 'C#1', sk: 'C' } }));
    expect(await byAccount(h, 'A#globex#C')).toEqual(['C#1']);
    await sleep(LAG);
    await h.front.settle();
    expect(await byAccount(h, 'A#globex#C')).toEqual([]);
  });

  it('converges on the last write when one key is written many times within the lag', async () => {
    for (let i = 0; i < 5; i++) {
      await h.doc.send(
        new PutCommand({ TableName: T, Item: { pk: 'C#2', sk: 'C', gsi1pk: `A#n${i}#C`, gsi1sk: 'x' } }),
      );
    }
    await sleep(LAG);
    await h.front.settle();
    for (let i = 0; i < 4; i++) expect(await byAccount(h, `A#n${i}#C`)).toEqual([]);
    expect(await byAccount(h, 'A#n4#C')).toEqual(['C#2']);
  });

  it('converges on the table when writes to many keys race one another', async () => {
    const writes = Array.from({ length: 40 }, (_, i) => {
      const key = `R#${i % 8}`;
      return h.doc.send(
        new PutCommand({ TableName: T, Item: { pk: key, sk: 'C', gsi1pk: `A#race${i % 3}#C`, gsi1sk: key } }),
      );
    });
    await Promise.all(writes);
    await sleep(LAG);
    await h.front.settle();
    // Whatever order the writes landed in, each key is listed under exactly the index key its item now has.
    const listed = new Map<string, string>();
    for (let a = 0; a < 3; a++)
      for (const pk of await byAccount(h, `A#race${a}#C`)) listed.set(pk, `A#race${a}#C`);
    for (let k = 0; k < 8; k++) {
      const item = await h.doc.send(
        new GetCommand({ TableName: T, Key: { pk: `R#${k}`, sk: 'C' }, ConsistentRead: true }),
      );
      expect(listed.get(`R#${k}`)).toBe(item.Item?.gsi1pk);
    }
    expect(listed.size).toBe(8);
  });

  it('refuses a strongly consistent index read as DynamoDB does', async () => {
    const error = await rejection(
      h.doc.send(
        new QueryCommand({
          TableName: T,
          IndexName: 'byAccount',
          KeyConditionExpression: 'gsi1pk = :a',
          ExpressionAttributeValues: { ':a': 'A#acme#C' },
          ConsistentRead: true,
        }),
      ),
    );
    expect(error.name).toBe('ValidationException');
    expect(error.message).toBe('Consistent reads are not supported on global secondary indexes');
  });

  it('hides its shadow tables from ListTables', async () => {
    const { ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
    expect((await h.raw.send(new ListTablesCommand({}))).TableNames).toEqual([T]);
  });
});

describe('with no lag', () => {
  let h: FrontHarness;
  beforeAll(async () => {
    h = await startFront({ indexLagMs: 0 });
    await h.createTable(stateLikeTable(T));
  });
  afterAll(() => h.stop());

  it('the index sees a write at once, as dynalite alone does', async () => {
    await h.doc.send(
      new PutCommand({ TableName: T, Item: { pk: 'C#1', sk: 'C', gsi1pk: 'A#acme#C', gsi1sk: '7#1' } }),
    );
    expect(await byAccount(h, 'A#acme#C')).toEqual(['C#1']);
  });
});
