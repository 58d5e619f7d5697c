/**
 * Within Kommo's limits and nothing lost: a 429 storm and a one-hour outage drain afterwards, each call logged
 * once, never earning the 403 block. Time is moved forward for the queue, the worker and the emulator alike.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BELL_ACK_SECONDS } from '../../lambdas/crm/ports';
import { type CrmWorld, entriesOf, startCrmWorld } from './helpers';

// A world each: the webhook checks signatures against the real clock, so calls are sent before time moves.
let w: CrmWorld;
beforeEach(async () => {
  w = await startCrmWorld();
});
afterEach(() => w.world.stop());

const calls = async (prefix: string, n: number) => {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) expect(await w.call({ id, users: [202] }, true, { duration: 3 })).toBe(202);
  return ids;
};

const calls403 = () => w.world.kommo.requests.filter((r) => r.status === 403).length;

describe('Kommo limits and outages', () => {
  it('a 429 storm: the worker waits out retry_after and logs every call once, never blocked', async () => {
    const ids = await calls('storm', 12);
    w.world.kommo.faults.api429 = { times: 3, retryAfterSeconds: 1 };
    await w.world.stack.crm.drain();
    for (const id of ids) expect(entriesOf(w.world, id), id).toHaveLength(1);
    expect(calls403()).toBe(0);
    expect(w.world.kommo.blocked).toBe(false);
    // One request for the twelve calls, plus the refused ones.
    const posts = w.world.kommo.requests.filter((r) => r.path === '/api/v4/calls');
    expect(posts.filter((r) => r.status === 200)).toHaveLength(1);
  });

  it('a 429 asking for 5 minutes: nothing is sent before it is over, then the backlog goes', async () => {
    const ids = await calls('long429', 5);
    w.world.kommo.faults.api429 = { times: 1, retryAfterSeconds: 300 };
    const before = w.world.kommo.requests.length;
    await w.world.stack.crm.drain();
    expect(w.world.kommo.requests.length - before).toBe(1);
    // The queue shows it again after its visibility timeout (6 minutes), past the 5 the 429 asked for.
    w.world.time.offsetMs += w.world.stack.crm.queue.options.visibilityMs;
    await w.world.stack.crm.drain();
    for (const id of ids) expect(entriesOf(w.world, id), id).toHaveLength(1);
    expect(calls403()).toBe(0);
  });

  it('a one-hour outage loses nothing: the backlog drains after it, each call once', async () => {
    const ids = await calls('outage', 30);
    // Past the bell checks' delay, so all of them are in the first round whatever the time sending took.
    w.world.time.offsetMs += BELL_ACK_SECONDS * 1000;
    const start = Date.now() + w.world.time.offsetMs;
    w.world.kommo.faults.outageUntil = start + 3600_000;
    const visibility = w.world.stack.crm.queue.options.visibilityMs;
    const before = w.world.kommo.requests.length;
    let rounds = 0;
    while (Date.now() + w.world.time.offsetMs < start + 3600_000) {
      await w.world.stack.crm.drain();
      rounds++;
      w.world.time.offsetMs += visibility;
    }
    const during = w.world.kommo.requests.slice(before);
    // One probe per batch and visibility timeout for all thirty calls, all refused. The first round holds 90
    // messages (the 30 bells and 30 bell checks of calls nobody's tab saw are dropped without a request: the
    // calls ended), so two batches of at most 50; later rounds hold the 30 calls' log jobs alone.
    expect(during.every((r) => r.status === 503)).toBe(true);
    expect(during.length).toBeLessThanOrEqual(rounds + 1);
    expect(ids.every((id) => entriesOf(w.world, id).length === 0)).toBe(true);
    await w.world.stack.crm.drain();
    for (const id of ids) expect(entriesOf(w.world, id), id).toHaveLength(1);
    const stats = await w.world.stack.crm.queue.stats();
    expect(stats).toEqual({ waiting: 0, visible: 0, dead: 0 });
    expect(calls403()).toBe(0);
  });

  it('what keeps failing goes to the dead-letter list after maxReceives', async () => {
    await calls('dead', 1);
    w.world.kommo.faults.outageUntil = Date.now() + w.world.time.offsetMs + 10 * 3600_000;
    const visibility = w.world.stack.crm.queue.options.visibilityMs;
    for (let i = 0; i < 25; i++) {
      await w.world.stack.crm.drain();
      w.world.time.offsetMs += visibility;
    }
    await w.world.stack.crm.drain();
    expect((await w.world.stack.crm.queue.stats()).dead).toBe(1);
    // Its last attempt left the reason for the admins.
    expect(await w.world.stack.crm.ledger.failures(30_001)).toMatchObject({
      count: 1,
      reason: 'Kommo unavailable',
    });
    w.world.kommo.faults.outageUntil = 0;
  });
});
