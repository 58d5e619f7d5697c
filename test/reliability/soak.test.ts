/**
 * Load soak on loopback: many sockets, webhooks offered at a fixed rate for a bounded time. Every targeted
 * agent must receive every event exactly once. `npm run test:soak` runs the full size (1000 sockets, 200/s,
 * 60 s); `npm test` a short one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ServerMessage } from '../../lambdas/core/protocol';
import { callEvent, startTestStack, type TestStack } from '../helpers/stack';

const FULL = process.env.SOAK === 'full';
const SOCKETS = FULL ? 1000 : 100;
const RATE = FULL ? 200 : 40;
const SECONDS = FULL ? 60 : 5;

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t.stop());

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);

describe(`soak: ${SOCKETS} sockets, ${RATE} webhooks/s for ${SECONDS} s`, () => {
  it('delivers every event to its agent exactly once, and reports memory', async () => {
    const received = new Map<number, Map<string, number>>();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < SOCKETS; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, SOCKETS - i) }, async (_, j) => {
          const userId = 10_000 + i + j;
          const { url } = await t.ticket(userId);
          const ws = new WebSocket(url);
          const mine = new Map<string, number>();
          received.set(userId, mine);
          ws.on('message', (data) => {
            const m = JSON.parse(String(data)) as ServerMessage;
            if (m.type === 'call') mine.set(m.view.call.id, (mine.get(m.view.call.id) ?? 0) + 1);
          });
          await new Promise((resolve, reject) => {
            ws.once('open', resolve);
            ws.once('error', reject);
          });
          sockets.push(ws);
        }),
      );
    }
    global.gc?.();
    const before = process.memoryUsage();

    const expected = new Map<string, number>();
    const inFlight: Promise<void>[] = [];
    let rejected = 0;
    const started = Date.now();
    const total = RATE * SECONDS;
    for (let n = 0; n < total; n++) {
      // Open loop: offer webhooks on schedule, whatever the backlog.
      const due = started + (n * 1000) / RATE;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const userId = 10_000 + ((n * 7919) % SOCKETS);
      const e = callEvent('call.ringing', { id: `soak-${n}`, users: [userId] });
      inFlight.push(
        t.webhook(e).then((res) => {
          if (res.status === 202) expected.set(e.call.id, userId);
          else rejected++;
        }),
      );
    }
    await Promise.all(inFlight);
    const offeredFor = (Date.now() - started) / 1000;
    const deadline = Date.now() + (FULL ? 120_000 : 30_000);
    const delivered = () => [...expected].filter(([id, user]) => received.get(user)?.get(id) === 1).length;
    while (delivered() < expected.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const after = process.memoryUsage();
    const duplicates = [...received.values()].flatMap((m) => [...m.values()].filter((c) => c > 1)).length;
    const strays = [...received].flatMap(([user, m]) =>
      [...m.keys()].filter((id) => expected.get(id) !== user),
    ).length;
    console.log(
      `soak: ${expected.size}/${total} accepted in ${offeredFor.toFixed(1)} s, ${delivered()} delivered once, ` +
        `${duplicates} duplicates, ${strays} strays; rss ${mb(before.rss)} → ${mb(after.rss)} MB, ` +
        `heap ${mb(before.heapUsed)} → ${mb(after.heapUsed)} MB`,
    );
    expect(rejected).toBe(0);
    expect(expected.size).toBe(total);
    expect(delivered()).toBe(expected.size);
    expect(duplicates).toBe(0);
    expect(strays).toBe(0);
    for (const ws of sockets) ws.terminate();
  }, 300_000);
});
