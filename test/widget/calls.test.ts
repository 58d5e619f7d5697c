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
