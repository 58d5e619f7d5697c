/**
 * Exactly one call-log entry per call, whatever interleaving of provider retries, duplicate webhooks, replayed
 * jobs, concurrent workers and workers dying mid-batch (fast-check over interleavings, against the emulator).
 *
 * A worker that dies between claiming a call and recording Kommo's answer leaves the call uncertain: the entry
 * may or may not be in Kommo, and Kommo cannot be asked. Such a call is never sent again and is shown to the
 * admins; every other call is logged exactly once.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrmLedger } from '../../lambdas/crm/ports';
import { makeCrmWorkerHandler } from '../../lambdas/handlers/crm-worker';
import type { CrmWorkerDeps } from '../../lambdas/usecases/crm-worker';
import { sleep } from '../helpers/stack';
import { type CrmWorld, entriesOf, startCrmWorld } from './helpers';

let w: CrmWorld;
beforeAll(async () => {
  w = await startCrmWorld({
    rateLimit: { perSecond: 10_000 },
    // Short visibility and lease so that time can pass for real: the webhook checks signatures on the real clock.
    stack: { kommo: { requestsPerSecond: 1000 }, crmVisibilityMs: 200, crmLeaseMs: 400 },
  });
});
afterAll(() => w.world.stop());

type CrashPoint = 'beforeClaim' | 'beforeSend' | 'afterSend' | 'afterFinish';
type Op =
  | { kind: 'webhook'; call: number; sameId: boolean }
  | { kind: 'replay'; call: number }
  | { kind: 'poll' }
  | { kind: 'concurrent' }
  | { kind: 'crash'; at: CrashPoint };

const never = () => new Promise<never>(() => {});

/**
 * A worker that dies at `at`: from then on nothing it started goes on (every further call hangs), and its
 * invocation fails, so the queue gets its messages back after the visibility timeout, as with a Lambda crash.
 */
const crashingWorker = (deps: CrmWorkerDeps, at: CrashPoint, inFlight: Set<string>) => {
  let dead = false;
  let die: (e: Error) => void = () => {};
  const died = new Promise<never>((_, reject) => {
    die = reject;
  });
  const crash = () => {
    dead = true;
    die(new Error(`worker died ${at}`));
    return never();
  };
  const ledger = new Proxy(deps.ledger, {
    get(target, prop, receiver) {
      const original = Reflect.get(target, prop, receiver);
      if (typeof original !== 'function') return original;
      return async (...args: unknown[]) => {
        if (dead) return never();
        if (prop === 'claim' && args[1] === 'log' && at === 'beforeClaim') return crash();
        const result = await original.apply(target, args);
        if (prop === 'finish' && args[1] === 'log' && at === 'afterFinish') return crash();
        return result;
      };
    },
  }) as CrmLedger;
  const client: CrmWorkerDeps['client'] = {
    request: (async (accountId: number, method: string, path: string, request: { body?: unknown } = {}) => {
      if (dead) return never();
      if (path === '/api/v4/calls' && (at === 'beforeSend' || at === 'afterSend')) {
        for (const entry of request.body as { uniq: string }[]) inFlight.add(entry.uniq);
        if (at === 'beforeSend') return crash();
        await deps.client.request(accountId, method, path, request);
        return crash();
      }
      return deps.client.request(accountId, method, path, request);
    }) as CrmWorkerDeps['client']['request'],
  };
  const handler = makeCrmWorkerHandler({ ...deps, ledger, client });
  return (event: Parameters<typeof handler>[0]) => Promise.race([handler(event), died]);
};

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('webhook' as const), call: fc.nat(2), sameId: fc.boolean() }),
  fc.record({ kind: fc.constant('replay' as const), call: fc.nat(2) }),
  fc.constant({ kind: 'poll' as const }),
  fc.constant({ kind: 'concurrent' as const }),
  fc.record({
    kind: fc.constant('crash' as const),
    at: fc.constantFrom<CrashPoint>('beforeClaim', 'beforeSend', 'afterSend', 'afterFinish'),
  }),
);

let run = 0;

describe('one entry per call', () => {
  it('across retries, duplicates, replays, concurrent workers and crashes mid-batch', async () => {
    const { stack, kommo } = w.world;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        run++;
        const ids = [0, 1, 2].map((i) => `prop-${run}-${i}`);
        const inFlight = new Set<string>();
        // Each call ends once at the phone system; everything after is a repeat of some kind.
        for (const id of ids) {
          expect(await w.call({ id, users: [202] }, true, { duration: 5 })).toBe(202);
        }
        for (const step of ops) {
          if (step.kind === 'webhook') {
            const id = ids[step.call] ?? '';
            const ended = w.event('call.ended', { id, users: [202] }, { outcome: 'answered', duration: 5 });
            await w.send(ended, step.sameId ? `msg_3_${id}` : undefined);
          } else if (step.kind === 'replay') {
            await stack.crm.queue.send([{ kind: 'log', subdomain: 'acme', callId: ids[step.call] ?? '' }]);
          } else if (step.kind === 'poll') {
            await stack.crm.pollOnce();
          } else if (step.kind === 'concurrent') {
            await Promise.all([
              stack.crm.pollOnce(),
              stack.crm.pollWith(makeCrmWorkerHandler(stack.crm.workerDeps)),
            ]);
          } else {
            await stack.crm.pollWith(crashingWorker(stack.crm.workerDeps, step.at, inFlight));
          }
        }
        // Time passes: hidden messages come back, dead workers' leases run out; the queue drains.
        for (let round = 0; round < 10 && (await stack.crm.queue.stats()).waiting > 0; round++) {
          await sleep(450);
          await stack.crm.drain();
        }
        expect((await stack.crm.queue.stats()).waiting).toBe(0);
        console.log(
          JSON.stringify(ops),
          ids.map((id) => [id, entriesOf(w.world, id).length]),
          kommo.requests.slice(-6).map((r) => `${r.method} ${r.path} ${r.status}`),
        );
        for (const id of ids) {
          const count = entriesOf(w.world, id).length;
          expect(count, id).toBeLessThanOrEqual(1);
          if (!inFlight.has(id)) expect(count, id).toBe(1);
        }
        expect(kommo.blocked).toBe(false);
      }),
      { numRuns: 25 },
    );
  }, 240_000);
});
