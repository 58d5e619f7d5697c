/**
 * What a resume answers: every call the user was told of, in its latest state, in pages that fit API
 * Gateway's message limit. Pure: the handler reads the records, this decides what the widget sees.
 */
import { type CallRecord, viewOf } from './call-state';
import { type CallView, PROTOCOL_VERSION, type SnapshotMessage } from './protocol';

export const SNAPSHOT_LIMITS = {
  /** A call ringing this long without news is over: its page must not keep the reload guard on for ever. */
  staleRingingMs: 10 * 60_000,
  /** An answered call with no news this long is over too. */
  staleAnsweredMs: 4 * 3600_000,
  /** Ended calls come back in a snapshot this long after they ended (missed-call entries after an outage). */
  recentMs: 3600_000,
  /** Calls at most in one snapshot, newest first; past it, `gap` says the oldest were left out. */
  maxCalls: 500,
  /** One page's JSON at most: under API Gateway's 128 KB message limit with room to spare. */
  maxPageBytes: 96 * 1024,
} as const;

const lastNews = (record: CallRecord) => record.updatedAt ?? Date.parse(record.occurredAt);

/**
 * The call as the user should see it now. A call left without news past its limit is presented as ended,
 * as the phone system most likely lost its last event: an unanswered inbound one as missed.
 */
export const presentCall = (record: CallRecord, nowMs: number): CallView => {
  const view = viewOf(record);
  const age = nowMs - lastNews(record);
  const stale =
    (record.state === 'ringing' && age > SNAPSHOT_LIMITS.staleRingingMs) ||
    (record.state === 'answered' && age > SNAPSHOT_LIMITS.staleAnsweredMs);
  if (!stale) return view;
  return {
    ...view,
    state: 'ended',
    call: {
      ...view.call,
      outcome: view.call.outcome ?? (record.state === 'answered' ? 'answered' : 'missed'),
    },
  };
};

export const buildSnapshot = (
  records: readonly CallRecord[],
  seq: number,
  nowMs: number,
  limits: Pick<typeof SNAPSHOT_LIMITS, 'maxCalls' | 'maxPageBytes' | 'recentMs'> = SNAPSHOT_LIMITS,
): SnapshotMessage[] => {
  const views = records
    .map((record) => ({ view: presentCall(record, nowMs), news: lastNews(record) }))
    .filter(({ view, news }) => view.state !== 'ended' || nowMs - news <= limits.recentMs)
    .sort((a, b) => b.news - a.news);
  const gap = views.length > limits.maxCalls;
  const kept = views.slice(0, limits.maxCalls).map((v) => v.view);
  // Pages of whole calls, each under the byte limit; a page holds at least one call.
  const pages: CallView[][] = [[]];
  let bytes = 0;
  for (const view of kept) {
    const size = JSON.stringify(view).length + 1;
    const page = pages.at(-1) ?? [];
    if (page.length > 0 && bytes + size > limits.maxPageBytes - 512) {
      pages.push([view]);
      bytes = size;
    } else {
      page.push(view);
      bytes += size;
    }
  }
  return pages.map((page, index) => ({
    v: PROTOCOL_VERSION,
    type: 'snapshot',
    seq,
    calls: page.filter((v) => v.state !== 'ended'),
    recent: page.filter((v) => v.state === 'ended'),
    ...(pages.length > 1 ? { page: index + 1, pages: pages.length } : {}),
    ...(gap ? { gap: true } : {}),
  }));
};
