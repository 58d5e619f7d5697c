/**
 * What this agent's page does about each call update: pure, so the dedupe rules are tested without a browser.
 *
 * - One pop-up per call state: the same (call, state) twice, a replay, or an older state arriving late
 *   never pops again.
 * - One "missed call" entry per missed call.
 * - The reload guard is on while any call of this agent rings or is in progress.
 */
import type { CallState, CallView } from '../../lambdas/core/protocol';

export type CallEffect = { kind: 'popup' | 'missed'; view: CallView; key: string };

/** Every pop-up has a key, the same in every tab, so tabs can agree which one shows it. */
export const effectKey = (callId: string, kind: CallEffect['kind']) =>
  `${callId}:${kind === 'popup' ? 'ringing' : 'missed'}`;

const RANK: Record<CallState, number> = { ringing: 0, answered: 1, ended: 2 };

export interface TrackedCall {
  view: CallView;
  /** When this page last heard of the call (epoch ms), for the safety timeout. */
  touchedAt: number;
}

export class CallTracker {
  private readonly calls = new Map<string, TrackedCall>();
  private readonly shown = new Set<string>();

  constructor(private readonly maxTracked = 500) {}

  /** Apply one update; returns what to show. */
  apply(view: CallView, now: number): CallEffect[] {
    const id = view.call.id;
    const known = this.calls.get(id);
    if (known && RANK[view.state] < RANK[known.view.state]) return [];
    this.calls.set(id, { view, touchedAt: now });
    this.trim();
    const effects: CallEffect[] = [];
    const once = (kind: CallEffect['kind']) => {
      const key = effectKey(id, kind);
      if (this.shown.has(key)) return;
      this.shown.add(key);
      effects.push({ kind, view, key });
    };
    if (view.state === 'ringing' && view.call.direction === 'inbound') once('popup');
    if (view.state === 'ended' && view.call.outcome === 'missed' && view.call.direction === 'inbound')
      once('missed');
    return effects;
  }

  /** A resume snapshot lists every active call; a call we think active but the server does not, has ended. */
  reconcile(active: readonly CallView[], now: number): CallEffect[] {
    const listed = new Set(active.map((v) => v.call.id));
    for (const [id, tracked] of this.calls) {
      if (tracked.view.state !== 'ended' && !listed.has(id)) {
        this.calls.set(id, { view: { ...tracked.view, state: 'ended' }, touchedAt: now });
      }
    }
    return active.flatMap((view) => this.apply(view, now));
  }

  /** Calls still ringing or in progress, ignoring any not heard of for `staleAfterMs` (the safety timeout). */
  activeCalls(now: number, staleAfterMs: number): CallView[] {
    return [...this.calls.values()]
      .filter((c) => c.view.state !== 'ended' && now - c.touchedAt < staleAfterMs)
      .map((c) => c.view);
  }

  /** Keys already shown (or assigned to some tab), for a tab that joins later. */
  shownKeys(): string[] {
    return [...this.shown];
  }

  /** Take over another tab's knowledge: its active calls and what was already shown. */
  absorb(active: readonly CallView[], shown: readonly string[], now: number): void {
    for (const key of shown) this.shown.add(key);
    for (const view of active) this.apply(view, now);
    this.trim();
  }

  private trim() {
    while (this.calls.size > this.maxTracked) {
      const oldest = this.calls.keys().next().value as string;
      this.calls.delete(oldest);
    }
    while (this.shown.size > this.maxTracked * 3)
      this.shown.delete(this.shown.values().next().value as string);
  }
}
