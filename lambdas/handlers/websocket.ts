/**
 * The WebSocket API: `$connect` behind a REQUEST authorizer that takes a single-use ticket, `$disconnect`,
 * and `$default` for the widget's `ping`, `resume` and `ack`.
 */
import type { APIGatewayProxyWebsocketEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { hashTicket, isTicketShape, isTicketUsable } from '../core/auth';
import { settleBounded } from '../core/fanout';
import {
  LocalMessageCounts,
  rateWindow,
  socketsOverCap,
  TENANT_LIMITS,
  type TenantLimits,
} from '../core/limits';
import {
  type ClientErrorCode,
  errorMessage,
  MAX_CLIENT_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  parseClientMessage,
  type ServerMessage,
} from '../core/protocol';
import { buildSnapshot } from '../core/snapshot';
import { pushAll } from '../delivery';
import { errorFields } from '../logger';
import type {
  CallIndex,
  CallStore,
  Clock,
  ConnectionCloser,
  ConnectionStore,
  Logger,
  Metrics,
  PopupAcks,
  Pusher,
  RateCounter,
  TicketStore,
} from '../ports';

/** API Gateway closes every WebSocket after 2 hours; the record may outlive that by a margin, never by more. */
export const CONNECTION_MAX_AGE_MS = 2 * 3600_000;
const RECORD_MARGIN_MS = 5 * 60_000;

export interface AuthorizerContext {
  subdomain: string;
  userId: string;
}

export interface AuthorizerResult {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[];
  };
  context: AuthorizerContext;
}

export interface AuthorizerDeps {
  tickets: TicketStore;
  clock: Clock;
  logger: Logger;
}

/**
 * Throwing `Unauthorized` is how a Lambda authorizer makes API Gateway answer 401 without opening the socket.
 * The ticket is consumed before it is checked, so a ticket is spent even by a failed attempt.
 */
export const makeAuthorizer =
  (deps: AuthorizerDeps) =>
  async (event: APIGatewayRequestAuthorizerEvent): Promise<AuthorizerResult> => {
    const ticket = event.queryStringParameters?.ticket;
    if (!isTicketShape(ticket)) {
      deps.logger.info('connect refused', { reason: 'no ticket or malformed ticket' });
      throw new Error('Unauthorized');
    }
    const record = await deps.tickets.consumeTicket(hashTicket(ticket));
    if (!isTicketUsable(record, new Date(deps.clock.now()))) {
      deps.logger.info('connect refused', { reason: record ? 'ticket expired' : 'ticket unknown or used' });
      throw new Error('Unauthorized');
    }
    return {
      principalId: `${record.subdomain}#${record.userId}`,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: { subdomain: record.subdomain, userId: String(record.userId) },
    };
  };

export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & {
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & {
    authorizer?: Partial<AuthorizerContext>;
  };
};
export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

export interface ConnectDeps {
  connections: Pick<ConnectionStore, 'saveConnection' | 'forgetConnections'>;
  /** Closes the user's oldest sockets past the cap (never this one: $connect cannot message or close it). */
  closer: ConnectionCloser;
  clock: Clock;
  logger: Logger;
  /** Closes that failed for another reason than a gone socket count as push failures (alarmed). */
  metrics: Metrics;
  limits?: Pick<TenantLimits, 'socketsPerUser'>;
}

export const makeConnectHandler =
  (deps: ConnectDeps) =>
  async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId, authorizer } = event.requestContext;
    const userId = Number(authorizer?.userId);
    const subdomain = authorizer?.subdomain;
    // Only reachable without the authorizer by a misconfigured stage; refuse rather than store a stranger.
    if (!subdomain || !Number.isSafeInteger(userId) || userId <= 0) return { statusCode: 401 };
    const now = deps.clock.now();
    const sockets = await deps.connections.saveConnection({
      connectionId,
      subdomain,
      userId,
      connectedAt: now,
      expiresAt: now + CONNECTION_MAX_AGE_MS + RECORD_MARGIN_MS,
    });
    // One user's sockets are capped, so that a script reusing a token cannot make every push to that user slow
    // (each socket is one PostToConnection). The oldest go: a live widget reconnects, a leaked tab does not.
    const over = socketsOverCap(sockets, connectionId, (deps.limits ?? TENANT_LIMITS).socketsPerUser);
    if (over.length > 0) {
      const ids = over.map((c) => c.connectionId);
      await deps.connections.forgetConnections(subdomain, userId, ids);
      const closed = await settleBounded(ids, 8, (id) => deps.closer.close(id));
      const failed = closed.filter((r) => r.status === 'rejected').length;
      if (failed > 0) deps.metrics.pushFailures(failed);
      deps.logger.warn('closed sockets over the per-user cap', {
        subdomain,
        userId,
        closed: ids.length,
        failed,
      });
    }
    deps.logger.info('connected', { connectionId, subdomain, userId, sockets: sockets.length - over.length });
    return { statusCode: 200 };
  };

export interface DisconnectDeps {
  connections: Pick<ConnectionStore, 'removeConnection'>;
  logger: Logger;
}

export const makeDisconnectHandler =
  (deps: DisconnectDeps) =>
  async (event: WebSocketEvent): Promise<WebSocketResult> => {
    await deps.connections.removeConnection(event.requestContext.connectionId);
    deps.logger.info('disconnected', { connectionId: event.requestContext.connectionId });
    return { statusCode: 200 };
  };

/** Whether a message asks for a resume, decided before validation (the budget is checked first). */
const isResume = (body: string): boolean => {
  if (body.length > MAX_CLIENT_MESSAGE_BYTES) return false;
  try {
    const parsed: unknown = JSON.parse(body);
    return (
      typeof parsed === 'object' && parsed !== null && (parsed as { action?: unknown }).action === 'resume'
    );
  } catch {
    return false;
  }
};

export interface DefaultDeps {
  connections: Pick<ConnectionStore, 'getConnection' | 'removeConnection' | 'connectionsOf'>;
  rates: Pick<RateCounter, 'countMessage'>;
  /** Closes a socket that keeps flooding past its budget. */
  closer: ConnectionCloser;
  limits?: Pick<
    TenantLimits,
    | 'messagesPerWindow'
    | 'closeAfterMessages'
    | 'resumesPerWindow'
    | 'messageWindowMs'
    | 'burstMessages'
    | 'burstRefillPerSecond'
  >;
  index: Pick<CallIndex, 'callIdsOf' | 'latestSeq'>;
  calls: Pick<CallStore, 'getCalls' | 'getCall'>;
  /** Where a tab's `ack` of a ringing pop-up goes (the bell's check reads it). */
  acks: Pick<PopupAcks, 'ackPopup'>;
  pusher: Pusher;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  pushConcurrency: number;
}

/** `$default`: every reply goes back through the management API, like any push. */
export const makeDefaultHandler = (deps: DefaultDeps) => {
  const reply = async (connectionId: string, messages: ServerMessage[]) => {
    await pushAll(
      { ...deps, pushConcurrency: 1 },
      messages.map((m) => ({ connectionId, data: JSON.stringify(m) })),
    );
  };
  const refuse = (connectionId: string, code: ClientErrorCode, message: string) =>
    reply(connectionId, [errorMessage(code, message)]);

  const limits = deps.limits ?? TENANT_LIMITS;
  const local = new LocalMessageCounts(limits);
  /**
   * Every message is counted against its socket's budget before anything else is done for it, malformed ones
   * included: API Gateway's stage throttle and Lambda's concurrency are shared by every account, so a socket
   * flooding them is told to stop (`rate_limited`), then closed. A resume also has a budget of its own.
   * Answers false when the message must not be handled.
   */
  const withinBudget = async (connectionId: string, body: string): Promise<boolean> => {
    const now = deps.clock.now();
    const { start, retryAfterSeconds } = rateWindow(now, limits.messageWindowMs);
    const resume = isResume(body);
    const seen = local.hit(connectionId, start, resume, now);
    const close = async (messages: number) => {
      deps.logger.warn('socket closed for flooding', { connectionId, messages });
      await deps.closer.close(connectionId);
      return false;
    };
    // The burst budget first: kept in memory, it answers a flood without a round trip.
    if (seen.tokens <= -limits.burstMessages) return close(seen.messages);
    if (seen.tokens < 0) {
      // Told once per burst; what follows is dropped unanswered, so a flood costs no reply each.
      if (seen.tokens >= -1) {
        await refuse(
          connectionId,
          'rate_limited',
          `at most ${limits.burstMessages} messages at once per socket, then ${limits.burstRefillPerSecond} a second; slow down (a socket that keeps on is closed)`,
        );
      }
      return false;
    }
    const overLocally =
      seen.messages > limits.messagesPerWindow || (resume && seen.resumes > limits.resumesPerWindow);
    const count = overLocally
      ? seen
      : await deps.rates.countMessage(connectionId, resume, start, limits.messageWindowMs);
    if (count.messages > limits.closeAfterMessages) return close(count.messages);
    if (count.messages > limits.messagesPerWindow) {
      // A resume refused gets its error (the widget backs off and retries); anything else only the first time.
      if (!resume && count.messages > limits.messagesPerWindow + 1) return false;
      await refuse(
        connectionId,
        'rate_limited',
        `at most ${limits.messagesPerWindow} messages a minute per socket; retry in ${retryAfterSeconds} s (a socket that keeps on is closed)`,
      );
      return false;
    }
    if (resume && count.resumes > limits.resumesPerWindow) {
      await refuse(
        connectionId,
        'rate_limited',
        `at most ${limits.resumesPerWindow} resumes a minute per socket; retry in ${retryAfterSeconds} s`,
      );
      return false;
    }
    return true;
  };

  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId } = event.requestContext;
    try {
      const body = event.body ?? '';
      if (!(await withinBudget(connectionId, body))) return { statusCode: 200 };
      if (event.isBase64Encoded) {
        await refuse(connectionId, 'invalid_message', 'binary frames are not supported; send JSON text');
        return { statusCode: 200 };
      }
      if (Buffer.byteLength(body) > MAX_CLIENT_MESSAGE_BYTES) {
        await refuse(
          connectionId,
          'message_too_large',
          `messages are limited to ${MAX_CLIENT_MESSAGE_BYTES} bytes`,
        );
        return { statusCode: 200 };
      }
      let input: unknown;
      try {
        input = JSON.parse(body);
      } catch {
        await refuse(connectionId, 'malformed_json', 'expected a JSON object such as {"action":"ping"}');
        return { statusCode: 200 };
      }
      const parsed = parseClientMessage(input);
      if (!parsed.ok) {
        const issue = parsed.issues[0];
        await refuse(connectionId, 'invalid_message', `${issue?.field}: ${issue?.message}`);
        return { statusCode: 200 };
      }
      const message = parsed.value;
      if (message.action === 'ping') {
        await reply(connectionId, [{ v: PROTOCOL_VERSION, type: 'pong' }]);
        return { statusCode: 200 };
      }
      const connection = await deps.connections.getConnection(connectionId);
      if (!connection) {
        await refuse(connectionId, 'unknown_connection', 'this connection is not registered; reconnect');
        return { statusCode: 200 };
      }
      const { subdomain, userId } = connection;
      const now = deps.clock.now();
      if (message.action === 'ack') {
        const call = await deps.calls.getCall(subdomain, message.callId);
        // The same answer whether the call does not exist or is someone else's: an ack reveals nothing.
        if (!call?.users.includes(userId)) {
          await refuse(
            connectionId,
            'unknown_call',
            `callId: call ${message.callId} was not offered to this user; ack only calls this socket was sent`,
          );
          return { statusCode: 200 };
        }
        // Only a ringing call can still ring the bell; a late ack of one answered or ended changes nothing.
        if (call.state === 'ringing') await deps.acks.ackPopup(subdomain, message.callId, userId, now);
        deps.logger.info('pop-up acknowledged', {
          connectionId,
          subdomain,
          userId,
          callId: message.callId,
          seq: message.seq,
          state: call.state,
        });
        return { statusCode: 200 };
      }
      // Every call of the user in its latest state, read after this socket was registered: an update saved
      // later is pushed to this socket, an update saved earlier is in these records. Nothing is replayed.
      const [ids, seq] = await Promise.all([
        deps.index.callIdsOf(subdomain, userId, now),
        deps.index.latestSeq(subdomain),
      ]);
      // A marker is a hint: one written beside a save that lost a race names a call this user is not on.
      const records = (await deps.calls.getCalls(subdomain, ids)).filter((r) => r.users.includes(userId));
      const pages = buildSnapshot(records, seq, now);
      await reply(connectionId, pages);
      deps.logger.info('resumed', {
        connectionId,
        subdomain,
        userId,
        calls: ids.length,
        pages: pages.length,
        gap: pages[0]?.gap === true,
      });
      return { statusCode: 200 };
    } catch (error) {
      deps.logger.error('message failed', { connectionId, ...errorFields(error) });
      await refuse(connectionId, 'internal_error', 'the message could not be handled; retry').catch(() => {});
      return { statusCode: 200 };
    }
  };
};
