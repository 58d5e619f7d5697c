/**
 * Getting one call update to every socket of its recipients: append it to each user's log (that gives the
 * seq and makes it resumable), then push with bounded concurrency. A gone socket is forgotten; a failing one
 * is logged and skipped, because one dead browser must never hold up a call for the others.
 */
import type { CallRecord } from './core/call-state';
import { isActive, viewOf } from './core/call-state';
import { settleBounded } from './core/fanout';
import { type CallMessage, PROTOCOL_VERSION } from './core/protocol';
import type { Connection, ConnectionStore, EventLog, Logger, Pusher } from './ports';
import { PushFailedError } from './ports';

export interface DeliveryDeps {
  events: EventLog;
  connections: Pick<ConnectionStore, 'connectionsOf' | 'removeConnection'>;
  pusher: Pusher;
  logger: Logger;
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
  /** When the connection was stored; absent for a reply to the connection that just spoke. */
  connectedAt?: number;
}

export const pushAll = async (
  deps: Pick<DeliveryDeps, 'connections' | 'pusher' | 'logger' | 'pushConcurrency'>,
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
        if (connectedAt === undefined || nowMs - connectedAt > GONE_GRACE_MS) gone.push(connectionId);
      }
    } else {
      tally.failed++;
      const reason = result.reason instanceof PushFailedError ? result.reason.reason : String(result.reason);
      deps.logger.warn('push failed', { connectionId, reason });
    }
  });
  await settleBounded(gone, 8, (id) => deps.connections.removeConnection(id));
  return tally;
};

/**
 * Push to every socket of the recipients first (the push is what an agent waits for), then store their copies
 * for `resume`, then push once more to any socket that registered meanwhile. That last step closes a race: a
 * socket that connected after the first lookup and resumed before the copy was stored would otherwise miss
 * the event until its next reconnect. A socket that registers after the second lookup resumes after the copy
 * exists, so its replay has it. Repeats carry the same seq and the widget drops them.
 *
 * If storing fails the webhook answers 5xx, and the provider's retry pushes the same seq again and stores it.
 */
export const deliverCallUpdate = async (
  deps: DeliveryDeps,
  subdomain: string,
  record: CallRecord,
  seq: number,
  nowMs: number,
  knownConnections?: Connection[],
): Promise<PushTally> => {
  const message: CallMessage = { v: PROTOCOL_VERSION, type: 'call', seq, view: viewOf(record) };
  const data = JSON.stringify(message);
  const wanted = new Set(record.users);
  const first = knownConnections
    ? knownConnections.filter((c) => wanted.has(c.userId))
    : await deps.connections.connectionsOf(subdomain, record.users, nowMs);
  const tally = await pushAll(
    deps,
    first.map((c) => ({ connectionId: c.connectionId, data, connectedAt: c.connectedAt })),
    nowMs,
  );
  await deps.events.recordEvents(subdomain, record.users, message, isActive(record.state), nowMs);
  const reached = new Set(first.map((c) => c.connectionId));
  const late = (await deps.connections.connectionsOf(subdomain, record.users, nowMs)).filter(
    (c) => !reached.has(c.connectionId),
  );
  if (late.length > 0) {
    const more = await pushAll(
      deps,
      late.map((c) => ({ connectionId: c.connectionId, data, connectedAt: c.connectedAt })),
      nowMs,
    );
    tally.sent += more.sent;
    tally.gone += more.gone;
    tally.failed += more.failed;
  }
  return tally;
};
