/**
 * The capacity bench helper the scale work builds on: a real targeted webhook through the local stack on the
 * front, its charges named per key, and the per-account ceiling derived from DynamoDB's partition limits.
 */
import { expect, it } from 'vitest';
import { targetedWebhookCapacity } from '../../bench/capacity';

it('measures a targeted webhook per busiest key and derives the ceiling from 3,000 RCU/s and 1,000 WCU/s', async () => {
  const { perWebhook, sustained } = await targetedWebhookCapacity({ agents: 20, webhooks: 4 });
  expect(perWebhook.requests).toBeGreaterThan(0);
  expect(perWebhook.wcu).toBeGreaterThan(0);
  const charged = perWebhook.records.flatMap((r) => r.charges);
  expect(charged.reduce((s, c) => s + c.rcu, 0)).toBe(perWebhook.rcu);
  // The busiest write key is the key with the most write units summed over the webhook's calls.
  const byKey = new Map<string, number>();
  for (const c of charged) {
    const key = `${c.index ? `${c.table}/index/${c.index}` : c.table}|${c.partition}`;
    byKey.set(key, (byKey.get(key) ?? 0) + c.wcu);
  }
  expect(perWebhook.busiestWrite?.wcu).toBe(Math.max(...byKey.values()));
  const read = (sustained.busiestRead?.rcu ?? 0) / 4;
  const write = (sustained.busiestWrite?.wcu ?? 0) / 4;
  expect(read).toBeGreaterThan(0);
  expect(write).toBeGreaterThan(0);
  expect(sustained.ceilingPerSecond).toBeCloseTo(Math.min(3000 / read, 1000 / write), 6);
});
