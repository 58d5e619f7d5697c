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

export const pushAll = async (
  deps: Pick<DeliveryDeps, 'connections' | 'pusher' | 'logger' | 'pushConcurrency'>,
  items: readonly { connectionId: string; data: string }[],
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
        gone.push(connectionId);
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
 * Push to every socket of the recipients first, then store their copies for `resume`: the push is what an agent
 * waits for. If the write fails the webhook answers 5xx, and the provider's retry pushes the same seq again
 * (the widget drops it) and stores it. A resume never moves a client past what it replayed (see the $default
 * handler), so a copy stored a moment late is still replayed.
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
  const connections = knownConnections
    ? knownConnections.filter((c) => wanted.has(c.userId))
    : await deps.connections.connectionsOf(subdomain, record.users, nowMs);
  const tally = await pushAll(
    deps,
    connections.map((c) => ({ connectionId: c.connectionId, data })),
  );
  await deps.events.recordEvents(subdomain, record.users, message, isActive(record.state), nowMs);
  return tally;
};
