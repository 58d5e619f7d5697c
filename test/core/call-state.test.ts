import { describe, expect, it } from 'vitest';
import { type CallRecord, decide } from '../../lambdas/core/call-state';
import type { CallEvent } from '../../lambdas/core/protocol';

const event = (
  type: CallEvent['type'],
  at = '2026-11-21T10:00:00Z',
  extra: Partial<CallEvent['call']> = {},
): CallEvent => ({
  version: 1,
  type,
  call: { id: 'c1', direction: 'inbound', from: '+15551234567', to: '101', ...extra },
  occurredAt: at,
});

const apply = (current: CallRecord | undefined, e: CallEvent, id: string, users: number[] = [7]) => {
  const d = decide(current, e, id, users);
  if (d.kind !== 'apply') throw new Error(`expected apply, got ${d.reason}`);
  return d.record;
};

describe('call state machine', () => {
  it('moves forward through ringing, answered and ended', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    expect(ringing).toMatchObject({ state: 'ringing', version: 1, users: [7], appliedBy: 'w1' });
    expect(ringing.call.startedAt).toBe('2026-11-21T10:00:00Z');
    const answered = apply(ringing, event('call.answered', '2026-11-21T10:00:05Z'), 'w2');
    expect(answered).toMatchObject({ state: 'answered', version: 2 });
    const ended = apply(answered, event('call.ended', '2026-11-21T10:01:05Z'), 'w3');
    expect(ended.state).toBe('ended');
    expect(ended.call.outcome).toBe('answered');
    expect(ended.call.duration).toBe(60);
    expect(ended.call.from).toBe('+15551234567');
  });

  it('records a late ringing after ended as ignored', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    const ended = apply(ringing, event('call.ended'), 'w2');
    const late = decide(ended, event('call.ringing'), 'w3', [7]);
    expect(late).toEqual({ kind: 'ignored', reason: 'call c1 is already ended; call.ringing arrived late' });
  });

  it('ignores a second event of the same state from another webhook', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    expect(decide(ringing, event('call.ringing'), 'w9', [7]).kind).toBe('ignored');
  });

  it('re-delivers, without a new version, when the same webhook is retried', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    expect(decide(ringing, event('call.ringing'), 'w1', [7])).toEqual({
      kind: 'apply',
      record: ringing,
      redelivery: true,
    });
  });

  it('marks an inbound call that ended unanswered as missed', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    expect(apply(ringing, event('call.ended'), 'w2').call.outcome).toBe('missed');
  });

  it('keeps the outcome the provider sent', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    expect(apply(ringing, event('call.ended', undefined, { outcome: 'busy' }), 'w2').call.outcome).toBe(
      'busy',
    );
  });

  it('keeps everyone already told of a call among its recipients', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1', [7, 8]);
    const answered = apply(ringing, event('call.answered'), 'w2', [7]);
    expect(answered.users).toEqual([7, 8]);
  });

  it('accepts a call that starts at answered (an outbound call) and skips straight to ended', () => {
    const answered = apply(undefined, event('call.answered', undefined, { direction: 'outbound' }), 'w1');
    expect(answered.state).toBe('answered');
    expect(apply(undefined, event('call.ended'), 'w1').state).toBe('ended');
  });
});

describe('what a later event of the same call may and may not change', () => {
  it('never changes who called, whom, or the direction: the first event fixes them', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1');
    const ended = apply(
      ringing,
      event('call.ended', undefined, { from: '+449999999999', direction: 'outbound' }),
      'w2',
    );
    expect(ended.call).toMatchObject({ from: '+15551234567', direction: 'inbound', outcome: 'missed' });
  });

  it('adds a recording that arrives after the end, once', () => {
    const ended = apply(apply(undefined, event('call.ringing'), 'w1'), event('call.ended'), 'w2');
    const amended = apply(
      ended,
      event('call.ended', undefined, { recordingUrl: 'https://pbx.example/r.mp3' }),
      'w3',
    );
    expect(amended).toMatchObject({
      state: 'ended',
      version: 3,
      call: { recordingUrl: 'https://pbx.example/r.mp3' },
    });
    const again = decide(
      amended,
      event('call.ended', undefined, { recordingUrl: 'https://pbx.example/r.mp3' }),
      'w4',
      [7],
    );
    expect(again.kind).toBe('ignored');
  });

  it('rings a ring group’s next member, and never re-opens a call', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1', [7]);
    expect(apply(ringing, event('call.ringing'), 'w2', [8]).users).toEqual([7, 8]);
    const ended = apply(ringing, event('call.ended'), 'w3');
    expect(decide(ended, event('call.ringing'), 'w4', [9]).kind).toBe('ignored');
  });

  it('knows who answered, and a transfer moves the call', () => {
    const ringing = apply(undefined, event('call.ringing'), 'w1', [7, 8]);
    const answered = apply(ringing, event('call.answered'), 'w2', [8]);
    expect(answered.answeredBy).toEqual([8]);
    const moved = apply(answered, event('call.answered'), 'w3', [9]);
    expect(moved).toMatchObject({ state: 'answered', answeredBy: [9], users: [7, 8, 9] });
    // Ringing everyone (no agents named) says nothing about who answered.
    expect(decide(ringing, event('call.answered'), 'w4', [7, 8], { addressed: false })).toMatchObject({
      record: expect.not.objectContaining({ answeredBy: expect.anything() }),
    });
  });
});
