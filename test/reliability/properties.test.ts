/**
 * Properties, checked with fast-check over generated histories:
 * - any order and duplication of a call's events ends in the same state, moving only forward, with at most
 *   one pop-up per state;
 * - any interleaving of socket drops and events delivers each event to the agent exactly once after resume
 *   (against the real local stack and the widget's socket client).
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

describe('delivery, for any interleaving of socket drops and events', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(() => t.stop());

  it('delivers each event to the agent exactly once after resume', async () => {
    let user = 500;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('event', 'event', 'drop'), { minLength: 1, maxLength: 10 }),
        async (actions) => {
          const userId = ++user;
          const received: string[] = [];
          const socket = new CallbridgeSocket({
            getUrl: async () => t.ticket(userId),
            onMessage: (m) => {
              if (m.type === 'call') received.push(m.view.call.id);
            },
            WebSocket: WebSocket as unknown as WebSocketConstructor,
            random: () => 0, // reconnect at once: the property is about delivery, not backoff
          });
          socket.start();
          await expect.poll(() => socket.isOpen, { timeout: 5000 }).toBe(true);
          const sent: string[] = [];
          for (const [i, action] of actions.entries()) {
            if (action === 'event') {
              const e = callEvent('call.ringing', { id: `p${userId}-${i}`, users: [userId] });
              expect((await t.webhook(e)).status).toBe(202);
              sent.push(e.call.id);
            } else {
              const mine = await t.stack.state.connectionsOf('acme', [userId], Date.now());
              for (const c of mine) t.stack.gateway.dropConnection(c.connectionId);
            }
          }
          await expect.poll(() => [...received].sort(), { timeout: 10_000 }).toEqual([...sent].sort());
          await new Promise((r) => setTimeout(r, 100));
          socket.stop();
          expect(received.length).toBe(sent.length);
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 15) },
    );
  }, 120_000);
});
