/**
 * Within DynamoDB's limits at 10,000 agents: a webhook to one agent, named by a 32-character extension as a
 * phone system does, costs at most 5 RCU and 3 WCU on its busiest partition key, as the strict front charges
 * them, and no item of the account nears DynamoDB's 400 KB. The old design kept the whole user → extension map
 * in one item read on every such webhook: about 380 KB, 95 RCU on one key.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CapacityAccount, capacityAccount } from '../../bench/capacity';
import { itemBytes } from '../../infra/local/dynamo/item-size';
import { LOCAL_TABLES } from '../../infra/local/stack';

let account: CapacityAccount;
beforeAll(async () => {
  account = await capacityAccount({ agents: 10_000, extensionLength: 32, connected: 20 });
}, 120_000);
afterAll(() => account?.stop());

it('costs a targeted webhook at most 5 RCU and 3 WCU on its busiest key at 10,000 agents', async () => {
  const { perWebhook, sustained } = await account.measure('one', 5);
  expect(perWebhook.busiestRead?.rcu).toBeLessThanOrEqual(5);
  expect(perWebhook.busiestWrite?.wcu).toBeLessThanOrEqual(3);
  // Repeated to the same agent, the shared keys still leave room for hundreds of webhooks a second.
  expect(sustained.ceilingPerSecond).toBeGreaterThanOrEqual(500);
}, 60_000);

it('keeps every item of a 10,000-agent account far below 400 KB', async () => {
  let largest = 0;
  let startKey: Record<string, never> | undefined;
  do {
    const page = await account.stack.dynamo.send(
      new ScanCommand({ TableName: LOCAL_TABLES.state, ExclusiveStartKey: startKey }),
    );
    for (const item of page.Items ?? []) largest = Math.max(largest, itemBytes(item as never));
    startKey = page.LastEvaluatedKey as typeof startKey;
  } while (startKey);
  expect(largest).toBeGreaterThan(0);
  expect(largest).toBeLessThan(40 * 1024);
}, 60_000);
