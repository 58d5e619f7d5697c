/**
 * Providers retry, duplicate and reorder. Property, through the real stack: whatever order and however
 * many copies of a call's ringing/answered/ended notifications arrive, the agent sees exactly the states
 * that moved the call forward, each once, in order — a late ringing never re-opens an ended call.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telnyx } from './fixtures/telnyx';
import { zadarma } from './fixtures/zadarma';
import { CREDENTIALS, type ProviderStack, settle, startProviderStack, statesOf } from './harness';
import { telnyxSign, zadarmaSign } from './signers';

let t: ProviderStack;
beforeAll(async () => {
  t = await startProviderStack();
});
afterAll(() => t.stop());

const STATES = ['ringing', 'answered', 'ended'] as const;
type State = (typeof STATES)[number];

/** The states a forward-only machine announces for a sequence: each new maximum, once. */
const forward = (sequence: readonly State[]): State[] => {
  const out: State[] = [];
  for (const state of sequence) {
    const last = out.at(-1);
    if (last === undefined || STATES.indexOf(state) > STATES.indexOf(last)) out.push(state);
  }
  return out;
};

const deliveries = fc.array(fc.constantFrom(...STATES), { minLength: 1, maxLength: 7 });
let n = 0;

describe('any order, any duplicates', () => {
  it('Telnyx: the agent sees each forward state once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async (sequence) => {
        const session = `prop-${Date.now()}-${++n}`;
        // One event id per state: a duplicate is Telnyx's retry of the same delivery.
        const ids = { ringing: `${session}-r`, answered: `${session}-a`, ended: `${session}-e` };
        const alice = { to: 'sip:alice@sip.telnyx.com' };
        const bodies = {
          ringing: telnyx.initiated(ids.ringing, session, alice),
          answered: telnyx.answered(ids.answered, session, alice),
          ended: telnyx.hangup(ids.ended, session, { ...alice, hangup_cause: 'normal_clearing' }),
        };
        const socket = await t.connect(8);
        for (const state of sequence) {
          const res = await t.post(
            t.url('telnyx'),
            bodies[state],
            telnyxSign(t.telnyxPrivateKey, bodies[state]),
            'application/json',
          );
          expect(res.status).toBe(200);
        }
        const expected = forward(sequence);
        const last = expected.at(-1);
        await socket.next('call', (m) => m.view.call.id === session && m.view.state === last);
        await settle();
        expect(statesOf(socket, session)).toEqual(expected);
        socket.close();
      }),
      { numRuns: 15 },
    );
  }, 120_000);

  it('Zadarma (no event ids, natural keys only): the same holds', async () => {
    await fc.assert(
      fc.asyncProperty(deliveries, async (sequence) => {
        const call = `in_prop${Date.now()}${++n}`;
        const bodies = {
          ringing: zadarma.internal(call),
          answered: zadarma.answer(call),
          ended: zadarma.end(call, 'answered', '20'),
        };
        const socket = await t.connect(7);
        for (const state of sequence) {
          const body = bodies[state];
          const res = await t.post(
            t.url('zadarma'),
            body,
            zadarmaSign(CREDENTIALS.zadarma.apiSecret, body),
            'application/x-www-form-urlencoded',
          );
          expect(res.status).toBe(200);
        }
        const expected = forward(sequence);
        await socket.next('call', (m) => m.view.call.id === call && m.view.state === expected.at(-1));
        await settle();
        expect(statesOf(socket, call)).toEqual(expected);
        socket.close();
      }),
      { numRuns: 15 },
    );
  }, 120_000);
});
