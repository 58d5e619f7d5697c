import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../lambdas/core/call-state';
import { buildSnapshot, SNAPSHOT_LIMITS } from '../../lambdas/core/snapshot';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const record = (
  id: string,
  state: CallRecord['state'],
  agoMs: number,
  extra: Partial<CallRecord['call']> = {},
): CallRecord => ({
  callId: id,
  state,
  call: { id, direction: 'inbound', from: '+15551234567', to: '101', ...extra },
  occurredAt: new Date(NOW - agoMs).toISOString(),
  users: [7],
  appliedBy: 'w',
  version: 1,
  updatedAt: NOW - agoMs,
});

describe('resume snapshot', () => {
  it('lists active calls and calls ended within the hour, newest first, and forgets older ones', () => {
    const [page] = buildSnapshot(
      [
        record('old', 'ended', 2 * 3600_000, { outcome: 'missed' }),
        record('missed', 'ended', 60_000, { outcome: 'missed' }),
        record('live', 'answered', 30_000),
      ],
      42,
      NOW,
    );
    expect(page).toMatchObject({ type: 'snapshot', seq: 42 });
    expect(page?.calls.map((c) => c.call.id)).toEqual(['live']);
    expect(page?.recent?.map((c) => c.call.id)).toEqual(['missed']);
  });

  it('ends a call left ringing or answered too long without news, so no page keeps its reload guard on', () => {
    const [page] = buildSnapshot(
      [
        record('rang', 'ringing', SNAPSHOT_LIMITS.staleRingingMs + 1),
        record('talked', 'answered', SNAPSHOT_LIMITS.staleAnsweredMs + 1),
        record('ringing', 'ringing', 1000),
      ],
      1,
      NOW,
    );
    expect(page?.calls.map((c) => c.call.id)).toEqual(['ringing']);
    expect(page?.recent?.map((c) => [c.call.id, c.state, c.call.outcome])).toEqual([
      ['rang', 'ended', 'missed'],
    ]);
  });

  it('pages a large snapshot under the message limit, and flags what it had to leave out', () => {
    const many = Array.from({ length: 700 }, (_, i) =>
      record(`c-${i}`, 'ringing', i * 10, { recordingUrl: `https://pbx.example/${'x'.repeat(100)}` }),
    );
    const pages = buildSnapshot(many, 1, NOW);
    expect(pages.length).toBeGreaterThan(1);
    for (const [i, page] of pages.entries()) {
      expect(JSON.stringify(page).length).toBeLessThan(SNAPSHOT_LIMITS.maxPageBytes);
      expect(page).toMatchObject({ page: i + 1, pages: pages.length, gap: true });
    }
    expect(pages.flatMap((p) => p.calls)).toHaveLength(SNAPSHOT_LIMITS.maxCalls);
  });
});
