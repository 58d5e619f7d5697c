/**
 * What this agent's page does about each call update: pure, so the dedupe rules are tested without a browser.
 *
 * - One pop-up per call state: the same (call, state) twice, a replay, or an older state arriving late
 *   never pops again.
 * - One "missed call" entry per missed call.
 * - The reload guard is on while any call of this agent rings or is in progress; a call another agent took
 *   (a ring group's other member answered, a transfer away) is over for this one.
 * - What was shown is remembered across page loads (Kommo keeps every `add_call` in its notification
 *   centre, so a reload must not add it again).
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

/** Where shown pop-ups are remembered between page loads (localStorage in the widget). */
export interface ShownStore {
  load(): string[];
  save(keys: readonly string[]): void;
}

export class CallTracker {
  private readonly calls = new Map<string, TrackedCall>();
  private readonly shown = new Set<string>();
  /** Calls listed by the pages of the snapshot being received. */
  private listed: Set<string> | undefined;

  constructor(
    private readonly maxTracked = 500,
    private readonly store?: ShownStore,
    /** This agent's Kommo user id, to tell a call this agent took from one another agent took. */
    public me?: number,
  ) {
    for (const key of store?.load() ?? []) this.shown.add(key);
  }

  /** Apply one update; returns what to show. */
  apply(incoming: CallView, now: number): CallEffect[] {
    // Taken by someone else: for this agent the call is over (it no longer rings here, no reload guard).
    const takenElsewhere =
      incoming.state === 'answered' &&
      this.me !== undefined &&
      incoming.answeredBy !== undefined &&
      !incoming.answeredBy.includes(this.me);
    const view: CallView = takenElsewhere ? { ...incoming, state: 'ended' } : incoming;
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
      this.store?.save(this.shownKeys());
      effects.push({ kind, view, key });
    };
    if (view.state === 'ringing' && view.call.direction === 'inbound') once('popup');
    if (view.state === 'ended' && view.call.outcome === 'missed' && view.call.direction === 'inbound')
      once('missed');
    return effects;
  }

  /**
   * One page of a resume snapshot: the user's active calls and recently ended ones, each in its latest state,
   * so a replay collapses to what each call is now (an ended unanswered call gives its missed-call entry and
   * no ringing pop-up). The last page completes it: a call we think active that no page listed has ended.
   */
  reconcile(
    active: readonly CallView[],
    now: number,
    more: { recent?: readonly CallView[]; last?: boolean } = {},
  ): CallEffect[] {
    this.listed ??= new Set();
    for (const view of active) this.listed.add(view.call.id);
    // Ended calls first: a call that ended meanwhile must not pop as ringing from an older listing.
    const effects = [...(more.recent ?? []), ...active].flatMap((view) => this.apply(view, now));
    if (more.last ?? true) {
      const listed = this.listed;
      this.listed = undefined;
      for (const [id, tracked] of this.calls) {
        if (tracked.view.state !== 'ended' && !listed.has(id)) {
          this.calls.set(id, { view: { ...tracked.view, state: 'ended' }, touchedAt: now });
        }
      }
    }
    return effects;
  }

  /** Calls still ringing or in progress, ignoring any not heard of for `staleAfterMs` (the safety timeout). */
  activeCalls(now: number, staleAfterMs: number): CallView[] {
    return [...this.calls.values()]
      .filter((c) => c.view.state !== 'ended' && now - c.touchedAt < staleAfterMs)
      .map((c) => c.view);
  }

  /** What the live call card shows: calls still going, and missed ones heard of within `missedForMs`. */
  panelCalls(now: number, staleAfterMs: number, missedForMs = 3600_000): CallView[] {
    return [...this.calls.values()]
      .filter((c) =>
        c.view.state === 'ended'
          ? c.view.call.outcome === 'missed' && now - c.touchedAt < missedForMs
          : now - c.touchedAt < staleAfterMs,
      )
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
