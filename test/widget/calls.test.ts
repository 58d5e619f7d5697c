import { describe, expect, it } from 'vitest';
import type { CallView } from '../../lambdas/core/protocol';
import { nextDelayMs } from '../../widget/src/backoff';
import { CallTracker } from '../../widget/src/calls';

const view = (state: CallView['state'], extra: Partial<CallView['call']> = {}, id = 'c1'): CallView => ({
  state,
  call: { id, direction: 'inbound', from: '+15551234567', to: '101', ...extra },
  occurredAt: '2026-11-21T10:00:00Z',
});

describe('pop-up dedupe', () => {
  it('pops a ringing inbound call once, however often it is replayed', () => {
    const tracker = new CallTracker();
    expect(tracker.apply(view('ringing'), 0)).toEqual([
      { kind: 'popup', view: view('ringing'), key: 'c1:ringing' },
    ]);
    expect(tracker.apply(view('ringing'), 1)).toEqual([]);
    expect(tracker.reconcile([view('ringing')], 2)).toEqual([]);
  });

  it('never pops for an older state arriving after a newer one', () => {
    const tracker = new CallTracker();
    tracker.apply(view('answered'), 0);
    expect(tracker.apply(view('ringing'), 1)).toEqual([]);
    expect(tracker.activeCalls(1, 1000)).toHaveLength(1);
  });

  it('adds one missed-call entry for a missed inbound call', () => {
    const tracker = new CallTracker();
    tracker.apply(view('ringing'), 0);
    const missed = view('ended', { outcome: 'missed' });
    expect(tracker.apply(missed, 1)).toEqual([{ kind: 'missed', view: missed, key: 'c1:missed' }]);
    expect(tracker.apply(missed, 2)).toEqual([]);
  });

  it('does not pop outbound calls but counts them as active', () => {
    const tracker = new CallTracker();
    expect(tracker.apply(view('ringing', { direction: 'outbound' }), 0)).toEqual([]);
    expect(tracker.activeCalls(0, 1000)).toHaveLength(1);
  });

  it('ends calls a resume snapshot no longer lists, and pops ones it lists for the first time', () => {
    const tracker = new CallTracker();
    tracker.apply(view('answered', {}, 'a'), 0);
    const effects = tracker.reconcile([view('ringing', {}, 'b')], 1);
    expect(effects.map((e) => e.view.call.id)).toEqual(['b']);
    expect(tracker.activeCalls(1, 1000).map((v) => v.call.id)).toEqual(['b']);
  });

  it('lets a call stop counting as active after the safety timeout', () => {
    const tracker = new CallTracker();
    tracker.apply(view('answered'), 0);
    expect(tracker.activeCalls(999, 1000)).toHaveLength(1);
    expect(tracker.activeCalls(1000, 1000)).toHaveLength(0);
  });
});

describe('backoff', () => {
  it('retries the first time within 1 s and never waits more than 30 s', () => {
    expect(nextDelayMs(0, () => 0.999, 1000, 30_000)).toBeLessThan(1000);
    expect(nextDelayMs(3, () => 0.999, 1000, 30_000)).toBe(7992);
    expect(nextDelayMs(20, () => 0.999, 1000, 30_000)).toBe(29_970);
    expect(nextDelayMs(20, () => 0, 1000, 30_000)).toBe(0);
  });
});

describe('a snapshot after an outage', () => {
  it('collapses to each call’s latest state: a call that rang and ended unanswered gives one missed entry, no pop-up', () => {
    const tracker = new CallTracker();
    const effects = tracker.reconcile([], 0, { recent: [view('ended', { outcome: 'missed' }, 'gone')] });
    expect(effects.map((e) => [e.kind, e.view.call.id])).toEqual([['missed', 'gone']]);
    // The same snapshot again (a resync) adds nothing.
    expect(tracker.reconcile([], 1, { recent: [view('ended', { outcome: 'missed' }, 'gone')] })).toEqual([]);
  });

  it('ends a call it thought active only once the last page of the snapshot has come', () => {
    const tracker = new CallTracker();
    tracker.apply(view('answered', {}, 'a'), 0);
    tracker.apply(view('answered', {}, 'b'), 0);
    tracker.reconcile([view('answered', {}, 'a')], 1, { last: false });
    expect(
      tracker
        .activeCalls(1, 10_000)
        .map((v) => v.call.id)
        .sort(),
    ).toEqual(['a', 'b']);
    tracker.reconcile([], 2, { last: true });
    expect(tracker.activeCalls(2, 10_000).map((v) => v.call.id)).toEqual(['a']);
  });
});

describe('a call another agent took', () => {
  it('is over for this agent (no reload guard, no missed entry) but not for the one who answered', () => {
    const mine = new CallTracker(500, undefined, 7);
    const theirs = new CallTracker(500, undefined, 8);
    for (const tracker of [mine, theirs]) tracker.apply(view('ringing'), 0);
    const answered: CallView = { ...view('answered'), answeredBy: [8] };
    mine.apply(answered, 1);
    theirs.apply(answered, 1);
    expect(mine.activeCalls(1, 10_000)).toEqual([]);
    expect(theirs.activeCalls(1, 10_000)).toHaveLength(1);
    expect(mine.apply(view('ended', { outcome: 'answered' }), 2)).toEqual([]);
  });
});

describe('across page loads', () => {
  it('does not pop again what an earlier page already showed (Kommo keeps every add_call)', () => {
    let saved: string[] = [];
    const store = {
      load: () => saved,
      save: (keys: readonly string[]) => {
        saved = [...keys];
      },
    };
    const first = new CallTracker(500, store);
    expect(first.apply(view('ringing'), 0)).toHaveLength(1);
    const reloaded = new CallTracker(500, store);
    expect(reloaded.reconcile([view('ringing')], 1)).toEqual([]);
  });
});
