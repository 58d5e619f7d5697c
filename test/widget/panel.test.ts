// @vitest-environment happy-dom
/**
 * The live call card: what it shows for each state of a call, from what the tracker knows.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CallView } from '../../lambdas/core/protocol';
import { CallTracker } from '../../widget/src/calls';
import { CallPanel } from '../../widget/src/panel';

const labels = () => ({
  ringing: 'incoming call',
  answered: 'call in progress',
  missed: 'missed call',
  outbound: 'outgoing call',
  dismiss: 'Dismiss',
});

const view = (
  id: string,
  state: CallView['state'],
  call: Partial<CallView['call']> = {},
  more: Partial<CallView> = {},
): CallView =>
  ({
    state,
    call: { id, direction: 'inbound', from: '+1 555 123 4567', to: 'ext 101', ...call },
    ...more,
  }) as CallView;

const cards = () =>
  [...document.querySelectorAll<HTMLElement>('.callbridge-call')].map((e) => ({
    state: e.dataset.state,
    text: e.textContent,
  }));

afterEach(() => {
  document.body.replaceChildren();
});

describe('live call card', () => {
  it('follows a call through its states, and leaves a missed one in red until dismissed', () => {
    const tracker = new CallTracker(500, undefined, 7);
    const panel = new CallPanel(document, labels);
    const show = (v: CallView) => {
      tracker.apply(v, 1000);
      panel.render(tracker.panelCalls(1000, 60_000).map((x) => ({ view: x, contact: 'Grace Caller' })));
    };
    show(view('a', 'ringing'));
    const ringingLook = document.querySelector<HTMLElement>('.callbridge-call')?.style.background;
    expect(ringingLook).toBeTruthy();
    expect(cards()).toEqual([{ state: 'ringing', text: 'incoming callGrace Caller · +1 555 123 4567' }]);
    show(view('a', 'answered', {}, { answeredBy: [7] }));
    expect(cards()).toEqual([{ state: 'answered', text: 'call in progressGrace Caller · +1 555 123 4567' }]);
    show(view('a', 'ended', { outcome: 'answered' }));
    expect(cards()).toEqual([]);
    expect(document.querySelector('.callbridge-calls')).toBeNull();

    show(view('b', 'ringing', { from: '+44 20 7946 0958' }));
    show(view('b', 'ended', { from: '+44 20 7946 0958', outcome: 'missed' }));
    expect(cards()).toEqual([{ state: 'missed', text: 'missed callGrace Caller · +44 20 7946 0958×' }]);
    const card = document.querySelector<HTMLElement>('.callbridge-call');
    expect(card?.style.background).toBeTruthy();
    expect(card?.style.background).not.toBe(ringingLook);
    document.querySelector<HTMLButtonElement>('.callbridge-call__dismiss')?.click();
    expect(cards()).toEqual([]);
  });

  it('drops a call another agent answered, and names the number dialled for an outbound call', () => {
    const tracker = new CallTracker(500, undefined, 7);
    const panel = new CallPanel(document, labels);
    tracker.apply(view('c', 'ringing'), 1000);
    tracker.apply(view('c', 'answered', {}, { answeredBy: [8] }), 1000);
    tracker.apply(
      view('d', 'ringing', { direction: 'outbound', from: 'ext 101', to: '+1 555 987 6543' }),
      1000,
    );
    panel.render(tracker.panelCalls(1000, 60_000).map((v) => ({ view: v })));
    expect(cards()).toEqual([{ state: 'ringing', text: 'outgoing call+1 555 987 6543' }]);
  });

  it('forgets missed calls after an hour and calls not heard of past the safety timeout', () => {
    const tracker = new CallTracker(500, undefined, 7);
    tracker.apply(view('e', 'ended', { outcome: 'missed' }), 0);
    tracker.apply(view('f', 'ringing'), 0);
    expect(tracker.panelCalls(59 * 60_000, 3 * 3600_000).map((v) => v.call.id)).toEqual(['e', 'f']);
    expect(tracker.panelCalls(61 * 60_000, 3 * 3600_000).map((v) => v.call.id)).toEqual(['f']);
    expect(tracker.panelCalls(3 * 3600_000, 3 * 3600_000)).toEqual([]);
  });
});
