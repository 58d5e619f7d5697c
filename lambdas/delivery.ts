/**
 * Getting one call update to every socket of its recipients: append it to each user's log (that gives the
 * seq and makes it resumable), then push with bounded concurrency. A gone socket is forgotten; a failing one
 * is logged and skipped, because one dead browser must never hold up a call for the others.
 */
import pLimit from 'p-limit';
import type { CallRecord } from './core/call-state';
import { viewOf } from './core/call-state';
import { chunks, mapBounded, settleBounded } from './core/fanout';
import { type CallMessage, PROTOCOL_VERSION } from './core/protocol';
import type { CallIndex, Connection, ConnectionStore, Logger, Metrics, Pusher } from './ports';
import { PushFailedError } from './ports';

export interface DeliveryDeps {
  index: CallIndex;
  connections: Pick<ConnectionStore, 'connectionsOf' | 'removeConnection'>;
  pusher: Pusher;
  logger: Logger;
  metrics: Metrics;
  pushConcurrency: number;
}

export interface PushTally {
  sent: number;
  gone: number;
  failed: number;
}

/**
 * API Gateway answers 410 Gone for a connection whose $connect has not finished yet, and its record is
 * written during $connect: a push racing a connect must not delete the record of a socket about to open. A
 * younger record is left for its own $disconnect (or TTL); the event it missed reaches it by resume.
 */
export const GONE_GRACE_MS = 10_000;

export interface PushItem {
  connectionId: string;
  data: string;
  /**
   * When the connection was stored; absent for a reply to the connection that just spoke, which is never
   * forgotten here: its own $disconnect (or the record's TTL) does that.
   */
  connectedAt?: number;
}

export const pushAll = async (
  deps: Pick<DeliveryDeps, 'connections' | 'pusher' | 'logger' | 'metrics' | 'pushConcurrency'>,
  items: readonly PushItem[],
  nowMs: number = Date.now(),
): Promise<PushTally> => {
  const tally: PushTally = { sent: 0, gone: 0, failed: 0 };
  const gone: string[] = [];
  const settled = await settleBounded(items, deps.pushConcurrency, (item) =>
    deps.pusher.send(item.connectionId, item.data),
  );
  settled.forEach((result, index) => {
    const connectionId = items[index]?.connectionId ?? '';
    if (result.status === 'fulfilled') {
      if (result.value === 'sent') tally.sent++;
      else {
        tally.gone++;
        const connectedAt = items[index]?.connectedAt;
        if (connectedAt !== undefined && nowMs - connectedAt > GONE_GRACE_MS) gone.push(connectionId);
      }
    } else {
      tally.failed++;
      const reason = result.reason instanceof PushFailedError ? result.reason.reason : String(result.reason);
      deps.logger.warn('push failed', { connectionId, reason });
    }
  });
  if (tally.failed > 0) deps.metrics.pushFailures(tally.failed);
  await settleBounded(gone, 8, (id) => deps.connections.removeConnection(id));
  return tally;
};

/** One BatchGet's worth of users, and how many such reads a fan-out keeps in flight. */
const LOOKUP_PAGE = 100;
const LOOKUP_PAGES_IN_FLIGHT = 2;

/** Above this many recipients, pushing waits for no write (see deliverCallUpdate). */
export const PUSH_FIRST_ABOVE_USERS = 25;

/**
 * Gets one call update to every socket of its recipients, so that no socket misses it however its (re)connect
 * interleaves with this delivery. The call record (saved before this runs) is the truth a resume reads; the
 * recipients' call index says which records to read, and is written for users new to the call:
 *
 * - Few recipients (the usual call): index, then look up the sockets, then push. A socket registered after the
 *   lookup resumes after both the record and the index are written, so its snapshot has the update.
 * - Many recipients (ring-all): indexing a thousand users takes longer than the pushes, and the agents are
 *   waiting, so push first, then index, then look up once more and push to any socket the first lookup missed
 *   (one that connected and resumed in between would otherwise wait for its next resync).
 *
 * Repeats carry the same seq and state; the widget shows each call state once. If indexing fails the webhook
 * answers 5xx, and the provider's retry delivers again and indexes every recipient.
 */
export const deliverCallUpdate = async (
  deps: DeliveryDeps,
  subdomain: string,
  record: CallRecord,
  seq: number,
  nowMs: number,
  /** Users already indexed for this call (from the previous record); all are indexed when absent. */
  indexedUsers?: readonly number[],
): Promise<PushTally> => {
  const message: CallMessage = { v: PROTOCOL_VERSION, type: 'call', seq, view: viewOf(record) };
  const data = JSON.stringify(message);
  const known = new Set(indexedUsers ?? []);
  const newUsers = record.users.filter((u) => !known.has(u));
  const index = () =>
    newUsers.length > 0
      ? deps.index.addCallUsers(subdomain, newUsers, record.callId, nowMs)
      : Promise.resolve();
  const lookup = () => deps.connections.connectionsOf(subdomain, record.users, nowMs);
  const push = (connections: Connection[]) =>
    pushAll(
      deps,
      connections.map((c) => ({ connectionId: c.connectionId, data, connectedAt: c.connectedAt })),
      nowMs,
    );

  if (record.users.length <= PUSH_FIRST_ABOVE_USERS) {
    await index();
    return push(await lookup());
  }
  // The lookup goes a BatchGet (100 users) at a time, and each page's sockets are pushed as soon as it comes
  // back, under one limit for the whole fan-out: the first agents hear the call before the last page is read.
  const limit = pLimit(deps.pushConcurrency);
  const limited: Pusher = { send: (id, data) => limit(() => deps.pusher.send(id, data)) };
  const pages = chunks(record.users, LOOKUP_PAGE);
  const first: Connection[] = [];
  const tally: PushTally = { sent: 0, gone: 0, failed: 0 };
  await mapBounded(pages, LOOKUP_PAGES_IN_FLIGHT, async (users) => {
    const found = await deps.connections.connectionsOf(subdomain, users, nowMs);
    first.push(...found);
    const part = await pushAll(
      { ...deps, pusher: limited, pushConcurrency: Math.max(1, found.length) },
      found.map((c) => ({ connectionId: c.connectionId, data, connectedAt: c.connectedAt })),
      nowMs,
    );
    tally.sent += part.sent;
    tally.gone += part.gone;
    tally.failed += part.failed;
  });
  await index();
  const reached = new Set(first.map((c) => c.connectionId));
  const late = (await lookup()).filter((c) => !reached.has(c.connectionId));
  if (late.length > 0) {
    const more = await push(late);
    tally.sent += more.sent;
    tally.gone += more.gone;
    tally.failed += more.failed;
  }
  return tally;
};
