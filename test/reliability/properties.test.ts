/**
 * Properties, checked with fast-check over generated histories:
 * - any order and duplication of a call's events ends in the same state, moving only forward, with at most
 *   one pop-up per state;
 * - any interleaving of concurrent webhooks (stores finishing out of order), index lag and socket drops
 *   leaves the agent seeing each call as it ended, with one missed-call entry per missed call and never two
 *   pop-ups (against the real local stack, the widget's socket client and its call tracker).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type CallRecord, decide, viewOf } from '../../lambdas/core/call-state';
import { CALL_STATES, type CallEvent, type CallView } from '../../lambdas/core/protocol';
import { CallTracker } from '../../widget/src/calls';
import { CallbridgeSocket, type WebSocketConstructor } from '../../widget/src/socket';
import { callEvent, startTestStack, type TestStack } from '../helpers/stack';

const TYPES = ['call.ringing', 'call.answered', 'call.ended'] as const;
const rank = (type: CallEvent['type']) => TYPES.indexOf(type);

const event = (type: CallEvent['type'], second: number): CallEvent => ({
  version: 1,
  type,
  call: { id: 'c1', direction: 'inbound', from: '+15551234567', to: '101' },
  occurredAt: new Date(Date.UTC(2026, 10, 21, 10, 0, second)).toISOString(),
});

describe('call state, for any order and duplication of events', () => {
  it('ends in the furthest state seen, applies states strictly forward, and pops at most once per state', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...TYPES), { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (types, replayOrder) => {
          let record: CallRecord | undefined;
          const pushed: CallView[] = [];
          types.forEach((type, i) => {
            const decision = decide(record, event(type, i), `w${i}`, [7]);
            if (decision.kind === 'apply') {
              if (record)
                expect(CALL_STATES.indexOf(decision.record.state)).toBeGreaterThan(
                  CALL_STATES.indexOf(record.state),
                );
              record = decision.record;
              pushed.push(viewOf(record));
            }
          });
          expect(record && CALL_STATES.indexOf(record.state)).toBe(Math.max(...types.map(rank)));
          // The widget may get those updates replayed in any order and any number of times.
          const replays = [...pushed, ...replayOrder.map((i) => pushed[i % pushed.length] as CallView)];
          const tracker = new CallTracker();
          const effects = replays.flatMap((view, i) => tracker.apply(view, i));
          const keys = effects.map((e) => e.key);
          expect(new Set(keys).size).toBe(keys.length);
          expect(keys.filter((k) => k.endsWith(':ringing')).length).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('re-delivers without a new state when the same webhook is retried, whatever came before', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TYPES), { minLength: 1, maxLength: 6 }), (types) => {
        let record: CallRecord | undefined;
        types.forEach((type, i) => {
          const decision = decide(record, event(type, i), `w${i}`, [7]);
          if (decision.kind === 'apply') record = decision.record;
        });
        if (!record) return;
        const again = decide(record, event('call.ringing', 99), record.appliedBy, [7]);
        expect(again).toEqual({ kind: 'apply', record, redelivery: true });
      }),
    );
  });
});

describe('delivery, for any interleaving of concurrent webhooks, slow stores, index lag and socket drops', () => {
  let t: TestStack;
  /** Delays (ms) the webhook function's next DynamoDB writes take, consumed in order: stores finish out of order. */
  let delays: number[] = [];
  beforeAll(async () => {
    t = await startTestStack(); // with index lag, as every test stack
    t.stack.dynamoOf('webhook').middlewareStack.add(
      (next, context) => async (args) => {
        if (/Put|Update|BatchWrite/.test(context.commandName ?? '')) {
          const delay = delays.shift() ?? 0;
          if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        }
        return next(args);
      },
      { step: 'initialize', name: 'slowStores' },
    );
  });
  afterAll(() => t.stop());

  const OUTCOMES = ['answered', 'missed', 'busy'] as const;

  it('leaves the agent seeing every call exactly as it ended: one missed entry per missed call, never two pop-ups', async () => {
    let user = 500;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...OUTCOMES), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 0, max: 120 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 3 }),
        async (outcomes, storeDelays, dropsAtMs) => {
          const userId = ++user;
          delays = [...storeDelays];
          const tracker = new CallTracker(500, undefined, userId);
          const effects: { kind: string; id: string }[] = [];
          const socket = new CallbridgeSocket({
            getUrl: async () => t.ticket(userId),
            onMessage: (m) => {
              const now = Date.now();
              const out =
                m.type === 'call'
                  ? tracker.apply(m.view, now)
                  : m.type === 'snapshot'
                    ? tracker.reconcile(m.calls, now, {
                        recent: m.recent,
                        last: (m.page ?? 1) >= (m.pages ?? 1),
                      })
                    : [];
              for (const e of out) effects.push({ kind: e.kind, id: e.view.call.id });
            },
            WebSocket: WebSocket as unknown as WebSocketConstructor,
            random: () => 0, // reconnect at once: the property is about delivery, not backoff
          });
          socket.start();
          await expect.poll(() => socket.isOpen, { timeout: 5000 }).toBe(true);
          const drops = dropsAtMs.map(
            (ms) =>
              new Promise<void>((resolve) =>
                setTimeout(async () => {
                  for (const c of await t.stack.state.connectionsOf('acme', [userId], Date.now()))
                    t.stack.gateway.dropConnection(c.connectionId);
                  resolve();
                }, ms),
              ),
          );
          // Every call at once; each call's own events in order, as a phone system sends them.
          const ids = outcomes.map((_, i) => `q${userId}-${i}`);
          await Promise.all(
            outcomes.map(async (outcome, i) => {
              const id = ids[i] ?? '';
              const send = async (type: CallEvent['type'], extra: Partial<CallEvent['call']> = {}) => {
                const e = callEvent(type, { id, users: [userId] });
                const res = await t.webhook({ ...e, call: { ...e.call, ...extra } });
                expect(res.status).toBe(202);
              };
              await send('call.ringing');
              if (outcome === 'answered') await send('call.answered');
              await send('call.ended', outcome === 'busy' ? { outcome: 'busy' } : {});
            }),
          );
          await Promise.all(drops);
          // The agent converges: nothing left ringing or in progress, whatever was pushed or lost.
          await expect
            .poll(() => tracker.activeCalls(Date.now(), 3_600_000).length, { timeout: 10_000 })
            .toBe(0);
          await new Promise((r) => setTimeout(r, 300));
          socket.stop();
          for (const [i, outcome] of outcomes.entries()) {
            const mine = effects.filter((e) => e.id === ids[i]);
            expect(mine.filter((e) => e.kind === 'popup').length).toBeLessThanOrEqual(1);
            expect(mine.filter((e) => e.kind === 'missed')).toHaveLength(outcome === 'missed' ? 1 : 0);
          }
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 15) },
    );
  }, 180_000);
});
