/**
 * TTL as AWS runs it: enabling it is accepted, and an expired item stays readable until background deletion
 * gets to it (days later on AWS), so readers must filter on the TTL attribute themselves.
 */
import { DescribeTimeToLiveCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type FrontHarness, rejection, startFront, stateLikeTable } from './harness';

let h: FrontHarness;
beforeAll(async () => {
  h = await startFront();
  await h.createTable(stateLikeTable('ttl-table'));
});
afterAll(() => h.stop());

it('UpdateTimeToLive is accepted and DescribeTimeToLive reports it', async () => {
  expect(
    (await h.raw.send(new DescribeTimeToLiveCommand({ TableName: 'ttl-table' }))).TimeToLiveDescription
      ?.TimeToLiveStatus,
  ).toBe('DISABLED');
  const out = await h.raw.send(
    new UpdateTimeToLiveCommand({
      TableName: 'ttl-table',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    }),
  );
  expect(out.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  expect(
    (await h.raw.send(new DescribeTimeToLiveCommand({ TableName: 'ttl-table' }))).TimeToLiveDescription,
  ).toEqual({
    TimeToLiveStatus: 'ENABLED',
    AttributeName: 'ttl',
  });
  const again = await rejection(
    h.raw.send(
      new UpdateTimeToLiveCommand({
        TableName: 'ttl-table',
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      }),
    ),
  );
  expect(again.name).toBe('ValidationException');
});

it('an item past its TTL is still read back, by key and by query', async () => {
  const expired = Math.floor(Date.now() / 1000) - 3600;
  await h.doc.send(new PutCommand({ TableName: 'ttl-table', Item: { pk: 'old', sk: 'x', ttl: expired } }));
  expect(
    (await h.doc.send(new GetCommand({ TableName: 'ttl-table', Key: { pk: 'old', sk: 'x' } }))).Item?.ttl,
  ).toBe(expired);
  const query = await h.doc.send(
    new QueryCommand({
      TableName: 'ttl-table',
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': 'old' },
    }),
  );
  expect(query.Count).toBe(1);
});
