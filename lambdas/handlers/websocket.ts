/**
 * The WebSocket API: `$connect` behind a REQUEST authorizer that takes a single-use ticket, `$disconnect`,
 * and `$default` for the widget's `ping` and `resume`.
 */
import type { APIGatewayProxyWebsocketEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { hashTicket, isTicketShape, isTicketUsable } from '../core/auth';
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
  ConnectionStore,
  Logger,
  Metrics,
  Pusher,
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
  connections: Pick<ConnectionStore, 'saveConnection'>;
  clock: Clock;
  logger: Logger;
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
    await deps.connections.saveConnection({
      connectionId,
      subdomain,
      userId,
      connectedAt: now,
      expiresAt: now + CONNECTION_MAX_AGE_MS + RECORD_MARGIN_MS,
    });
    deps.logger.info('connected', { connectionId, subdomain, userId });
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

export interface DefaultDeps {
  connections: Pick<ConnectionStore, 'getConnection' | 'removeConnection' | 'connectionsOf'>;
  index: Pick<CallIndex, 'callIdsOf' | 'latestSeq'>;
  calls: Pick<CallStore, 'getCalls'>;
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

  return async (event: WebSocketEvent): Promise<WebSocketResult> => {
    const { connectionId } = event.requestContext;
    try {
      const body = event.body ?? '';
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
      // Every call of the user in its latest state, read after this socket was registered: an update saved
      // later is pushed to this socket, an update saved earlier is in these records. Nothing is replayed.
      const [ids, seq] = await Promise.all([
        deps.index.callIdsOf(subdomain, userId, now),
        deps.index.latestSeq(subdomain),
      ]);
      const pages = buildSnapshot(await deps.calls.getCalls(subdomain, ids), seq, now);
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
