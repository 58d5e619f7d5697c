/**
 * Load soak on loopback: many sockets, webhooks offered at a fixed rate for a bounded time. Every targeted
 * agent must receive every event exactly once. `npm run test:soak` runs the full size (1000 sockets, 200/s,
 * 60 s); `npm test` a short one. As in the bench, the stack and dynalite run in processes of their own, so
 * the load generator does not eat their CPU, and the memory reported is the stack's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, closeAgents, startBenchStack } from '../../bench/harness';

const FULL = process.env.SOAK === 'full';
const SOCKETS = FULL ? 1000 : 100;
const RATE = FULL ? 200 : 40;
const SECONDS = FULL ? 60 : 5;
/** A bound on requests in flight, so an overloaded stack slows the sender instead of drowning it. */
const MAX_IN_FLIGHT = 400;

let bench: Awaited<ReturnType<typeof startBenchStack>>;
beforeAll(async () => {
  bench = await startBenchStack({ separateProcess: true });
}, 60_000);
afterAll(() => bench?.stop());

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
const stackMemory = async () => (await (await fetch(`${bench.url}/__memory`)).json()) as NodeJS.MemoryUsage;

describe(`soak: ${SOCKETS} sockets, ${RATE} webhooks/s for ${SECONDS} s`, () => {
  it('delivers every event to its agent exactly once, and reports memory', async () => {
    const received = new Map<number, Map<string, number>>();
    const agents: Agent[] = await bench.connectAgents(Array.from({ length: SOCKETS }, (_, i) => 10_000 + i));
    for (const agent of agents) {
      const mine = new Map<string, number>();
      received.set(agent.userId, mine);
      agent.onMessage = (m) => {
        if (m.type === 'call') mine.set(m.view.call.id, (mine.get(m.view.call.id) ?? 0) + 1);
      };
    }
    const before = await stackMemory();

    const expected = new Map<string, number>();
    let rejected = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const pending: Promise<void>[] = [];
    const started = Date.now();
    const total = RATE * SECONDS;
    for (let n = 0; n < total; n++) {
      const due = started + (n * 1000) / RATE;
      while (Date.now() < due || inFlight >= MAX_IN_FLIGHT) await new Promise((r) => setTimeout(r, 2));
      const userId = 10_000 + ((n * 7919) % SOCKETS);
      const id = `soak-${n}`;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      pending.push(
        bench
          .webhook(bench.event('call.ringing', id, [userId]))
          .then((res) => {
            if (res.status === 202) expected.set(id, userId);
            else rejected++;
          })
          .finally(() => {
            inFlight--;
          }),
      );
    }
    await Promise.all(pending);
    const offeredFor = (Date.now() - started) / 1000;
    const deadline = Date.now() + 60_000;
    const delivered = () => [...expected].filter(([id, user]) => received.get(user)?.get(id) === 1).length;
    while (delivered() < expected.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const after = await stackMemory();
    const duplicates = [...received.values()].flatMap((m) => [...m.values()].filter((c) => c > 1)).length;
    const strays = [...received].flatMap(([user, m]) =>
      [...m.keys()].filter((id) => expected.get(id) !== user),
    ).length;
    console.log(
      `soak: ${expected.size}/${total} accepted in ${offeredFor.toFixed(1)} s (${(expected.size / offeredFor).toFixed(0)}/s, ` +
        `at most ${maxInFlight} in flight), ${delivered()} delivered once, ${duplicates} duplicates, ${strays} strays; ` +
        `stack rss ${mb(before.rss)} → ${mb(after.rss)} MB, heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB`,
    );
    expect(rejected).toBe(0);
    expect(expected.size).toBe(total);
    expect(delivered()).toBe(expected.size);
    expect(duplicates).toBe(0);
    expect(strays).toBe(0);
    await closeAgents(agents);
  }, 300_000);
});
