/**
 * A local API Gateway: the HTTP API, the WebSocket API and its `@connections` management API on one port,
 * calling the same handler functions with API Gateway-shaped events. The real
 * `ApiGatewayManagementApiClient` talks to it unmodified, and it answers as AWS does (410 with
 * `x-amzn-ErrorType: GoneException`, 413 PayloadTooLargeException), so the adapters are exercised for real.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { type HttpRoute, httpRoutes } from '../../lambdas/functions/manifest';
import type { HttpResult } from '../../lambdas/handlers/http';
import type { AuthorizerResult, WebSocketEvent, WebSocketResult } from '../../lambdas/handlers/websocket';
import { CORS, originAllowed, WS_LIMITS, WS_STAGE, WS_THROTTLE } from '../routes';

export interface GatewayHandlers {
  /** By function name, for the HTTP routes the manifest declares. */
  http: Record<string, (event: APIGatewayProxyEventV2) => Promise<HttpResult>>;
  authorizer: (event: APIGatewayRequestAuthorizerEvent) => Promise<AuthorizerResult>;
  connect: (event: WebSocketEvent) => Promise<WebSocketResult>;
  disconnect: (event: WebSocketEvent) => Promise<WebSocketResult>;
  default: (event: WebSocketEvent) => Promise<WebSocketResult>;
}

/** What the management API does for one request; tests use it to make API Gateway misbehave. */
export type ManagementFault = 'gone' | 'throttle' | 'hang' | 'error' | undefined;

export interface GatewayOptions {
  host?: string;
  port?: number;
  corsOrigins: readonly string[];
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  maxMessageBytes?: number;
  /** The HTTP routes; the manifest's when absent (the rehearsal passes the template's). */
  routes?: readonly HttpRoute[];
  /**
   * IAM for the @connections API, as AWS checks `execute-api:ManageConnections` on every call: the caller's
   * access key id (from its SigV4 signature), the method and the connection. Every call is allowed when absent.
   */
  authorizeManagement?: (request: {
    accessKeyId: string | undefined;
    method: string;
    connectionId: string;
  }) => { allowed: true } | { allowed: false; message: string };
  /** Extra routes served before the API (the demo page). Return true when handled. */
  extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean> | boolean;
  log?: (line: string) => void;
}

interface LiveSocket {
  socket: WebSocket;
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
  idleTimer?: NodeJS.Timeout;
  maxTimer?: NodeJS.Timeout;
}

const API_ID = 'local';

export class LocalGateway {
  readonly server: Server;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  private readonly sockets = new Map<string, LiveSocket>();
  private handlers: GatewayHandlers | undefined;
  private readonly hung = new Set<ServerResponse>();
  /** Set by tests to inject management-API faults per connection id. */
  fault: (connectionId: string, method: string) => ManagementFault = () => undefined;
  /** Counts of management-API calls, for tests and diagnostics. */
  /** What API Gateway would bill or throttle: messages either way, HTTP requests, connections opened. */
  readonly stats = { messagesThrottled: 0, messagesIn: 0, messagesOut: 0, httpRequests: 0, connections: 0 };
  /** The stage's token bucket for incoming messages, as API Gateway applies its stage throttle. */
  private bucket = { tokens: WS_THROTTLE.burstLimit as number, at: Date.now() };

  private readonly compiled: CompiledRoute[];

  constructor(private readonly options: GatewayOptions) {
    this.compiled = compileRoutes(options.routes ?? httpRoutes());
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        this.log(`internal error: ${error instanceof Error ? error.stack : String(error)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"message":"Internal Server Error"}');
      });
    });
    this.server.on('upgrade', (req, socket, head) => {
      this.upgrade(req, socket, head).catch((error: unknown) => {
        this.log(`upgrade failed: ${error instanceof Error ? error.message : String(error)}`);
        socket.destroy();
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
  }

  attach(handlers: GatewayHandlers): void {
    this.handlers = handlers;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  get url(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.port}`;
  }
  /** The socket URL a ticket opens (the stage is part of it, as on AWS). */
  get webSocketUrl(): string {
    return `ws://${this.options.host ?? '127.0.0.1'}:${this.port}/ws`;
  }
  /** What the management client is configured with on AWS: `https://{api}.execute-api…/{stage}`. */
  get managementEndpoint(): string {
    return `${this.url}/${WS_STAGE}`;
  }

  connectionIds(): string[] {
    return [...this.sockets.keys()];
  }

  /** Close a socket from the server side, as API Gateway does at its limits. */
  dropConnection(connectionId: string, code = 1001, reason = 'Going away'): boolean {
    const live = this.sockets.get(connectionId);
    if (!live) return false;
    live.socket.close(code, reason);
    return true;
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    for (const live of this.sockets.values()) live.socket.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private log(line: string) {
    this.options.log?.(line);
  }

  private requireHandlers(): GatewayHandlers {
    if (!this.handlers) throw new Error('gateway has no handlers attached yet');
    return this.handlers;
  }

  // --- HTTP API ---

  private cors(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin || !originAllowed(origin, this.options.corsOrigins)) return {};
    return { 'access-control-allow-origin': origin, vary: 'origin' };
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const management = new RegExp(`^/${WS_STAGE}/@connections/([^/]+)$`).exec(url.pathname);
    if (management?.[1]) return this.manage(req, res, decodeURIComponent(management[1]));
    if (this.options.extra && (await this.options.extra(req, res))) return;

    if (req.method === 'OPTIONS') {
      const cors = this.cors(req);
      res.writeHead(204, {
        ...cors,
        ...(cors['access-control-allow-origin']
          ? {
              'access-control-allow-methods': CORS.allowMethods.join(', '),
              'access-control-allow-headers': CORS.allowHeaders.join(', '),
              'access-control-max-age': String(CORS.maxAgeSeconds),
            }
          : {}),
      });
      res.end();
      return;
    }
    const match = matchRoute(this.compiled, req.method ?? 'GET', url.pathname);
    if (!match) {
      res.writeHead(404, { 'content-type': 'application/json', ...this.cors(req) });
      res.end('{"message":"Not Found"}');
      return;
    }
    const body = await readBody(req);
    this.stats.httpRequests++;
    const event = httpEvent(req, url, match.routeKey, match.pathParameters, body);
    const handler = this.requireHandlers().http[match.handler];
    if (!handler) throw new Error(`no handler attached for ${match.routeKey}`);
    const result = await handler(event);
    res.writeHead(result.statusCode, { ...result.headers, ...this.cors(req) });
    res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
  }

  // --- @connections management API ---

  private async manage(req: IncomingMessage, res: ServerResponse, connectionId: string): Promise<void> {
    const body = await readBody(req);
    const live = this.sockets.get(connectionId);
    const fault = this.fault(connectionId, req.method ?? '');
    const awsError = (status: number, type: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
      res.end(JSON.stringify({ message }));
    };
    const denied = this.options.authorizeManagement?.({
      accessKeyId: /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1],
      method: req.method ?? '',
      connectionId,
    });
    if (denied && !denied.allowed) {
      res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'AccessDeniedException' });
      res.end(JSON.stringify({ Message: denied.message }));
      return;
    }
    if (fault === 'hang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    if (fault === 'throttle') {
      return awsError(429, 'LimitExceededException', 'Rate exceeded');
    }
    if (fault === 'error') return awsError(500, 'InternalServerErrorException', 'Internal server error');
    if (!live || fault === 'gone' || live.socket.readyState !== WebSocket.OPEN) {
      return awsError(410, 'GoneException', 'Gone');
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          ConnectedAt: new Date(live.connectedAt).toISOString(),
          LastActiveAt: new Date(live.lastActiveAt).toISOString(),
          Identity: { SourceIp: live.sourceIp, UserAgent: live.userAgent },
        }),
      );
      return;
    }
    if (req.method === 'DELETE') {
      live.socket.close(1000, 'Closed by server');
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST') return awsError(405, 'BadRequestException', 'Method not allowed');
    const max = this.options.maxMessageBytes ?? WS_LIMITS.maxMessageBytes;
    if (body.byteLength > max) return awsError(413, 'PayloadTooLargeException', 'Payload too large');
    live.socket.send(body.toString('utf8'));
    this.stats.messagesOut++;
    this.touch(connectionId);
    res.writeHead(200).end();
  }

  // --- WebSocket API ---

  private async upgrade(
    req: IncomingMessage,
    socket: import('node:stream').Duplex,
    head: Buffer,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    // `/ws` for the demo and tests; `/{stage}` is the path of the URL CDK outputs (the rehearsal opens that).
    if (url.pathname !== '/ws' && url.pathname !== `/${WS_STAGE}`) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    const handlers = this.requireHandlers();
    const connectionId = `${randomBytes(9).toString('base64').replace(/[+/]/g, 'A')}=`;
    const query = Object.fromEntries(url.searchParams);
    const headers = flatHeaders(req);
    const requestContext = this.wsContext(req, connectionId, '$connect', 'CONNECT');
    let authorizer: AuthorizerResult;
    try {
      authorizer = await handlers.authorizer({
        type: 'REQUEST',
        methodArn: `arn:aws:execute-api:local:000000000000:${API_ID}/${WS_STAGE}/$connect`,
        headers,
        queryStringParameters: query,
        requestContext,
      } as unknown as APIGatewayRequestAuthorizerEvent);
    } catch {
      socket.end(
        'HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\r\n{"message":"Unauthorized"}',
      );
      return;
    }
    if (!authorizer.policyDocument.Statement.every((s) => s.Effect === 'Allow')) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n{"message":"Forbidden"}');
      return;
    }
    const context = { ...authorizer.context, principalId: authorizer.principalId };
    const connected = await handlers.connect({
      requestContext: { ...requestContext, authorizer: context },
      headers,
      queryStringParameters: query,
      isBase64Encoded: false,
    } as unknown as WebSocketEvent);
    if (connected.statusCode < 200 || connected.statusCode > 299) {
      socket.end(`HTTP/1.1 ${connected.statusCode} Refused\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.opened(ws, req, connectionId, context));
  }

  private opened(
    ws: WebSocket,
    req: IncomingMessage,
    connectionId: string,
    authorizer: Record<string, unknown>,
  ) {
    const handlers = this.requireHandlers();
    const now = Date.now();
    const live: LiveSocket = {
      socket: ws,
      connectedAt: now,
      lastActiveAt: now,
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      userAgent: req.headers['user-agent'] ?? '',
    };
    this.sockets.set(connectionId, live);
    this.stats.connections++;
    live.maxTimer = setTimeout(
      () => ws.close(1001, 'Going away'),
      this.options.maxConnectionMs ?? WS_LIMITS.maxConnectionMs,
    );
    this.touch(connectionId);
    const max = this.options.maxMessageBytes ?? WS_LIMITS.maxMessageBytes;
    // Messages of one socket reach $default in order, one at a time, as a client would observe on AWS.
    let queue = Promise.resolve();
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = toBuffer(data);
      // API Gateway closes with 1009 past 128 KB a message or 32 KB a frame. `ws` assembles frames before we
      // see them, and a browser sends each message as one frame: for a browser, the frame limit is the message's.
      // (Stricter than AWS for a client that fragments; never kinder.)
      if (bytes.byteLength > Math.min(max, WS_LIMITS.maxFrameBytes)) {
        ws.close(1009, 'Message too big');
        return;
      }
      this.touch(connectionId);
      this.stats.messagesIn++;
      if (!this.takeToken()) {
        // What API Gateway sends when the stage throttle rejects a message; the socket stays open.
        this.stats.messagesThrottled++;
        ws.send(JSON.stringify({ message: 'Too Many Requests', connectionId, requestId: randomUUID() }));
        return;
      }
      queue = queue.then(() =>
        handlers
          .default({
            requestContext: {
              ...this.wsContext(req, connectionId, '$default', 'MESSAGE'),
              authorizer,
            },
            body: isBinary ? bytes.toString('base64') : bytes.toString('utf8'),
            isBase64Encoded: isBinary,
          } as unknown as WebSocketEvent)
          .then(() => undefined)
          .catch((error: unknown) => this.log(`$default failed: ${String(error)}`)),
      );
    });
    ws.on('close', () => {
      clearTimeout(live.idleTimer);
      clearTimeout(live.maxTimer);
      this.sockets.delete(connectionId);
      handlers
        .disconnect({
          requestContext: { ...this.wsContext(req, connectionId, '$disconnect', 'DISCONNECT'), authorizer },
          isBase64Encoded: false,
        } as unknown as WebSocketEvent)
        .catch((error: unknown) => this.log(`$disconnect failed: ${String(error)}`));
    });
    ws.on('error', () => ws.terminate());
  }

  private takeToken(): boolean {
    const now = Date.now();
    const refill = ((now - this.bucket.at) / 1000) * WS_THROTTLE.rateLimit;
    this.bucket = { tokens: Math.min(WS_THROTTLE.burstLimit, this.bucket.tokens + refill), at: now };
    if (this.bucket.tokens < 1) return false;
    this.bucket.tokens -= 1;
    return true;
  }

  private touch(connectionId: string) {
    const live = this.sockets.get(connectionId);
    if (!live) return;
    live.lastActiveAt = Date.now();
    clearTimeout(live.idleTimer);
    live.idleTimer = setTimeout(
      () => live.socket.close(1001, 'Going away'),
      this.options.idleTimeoutMs ?? WS_LIMITS.idleTimeoutMs,
    );
  }

  private wsContext(req: IncomingMessage, connectionId: string, routeKey: string, eventType: string) {
    const now = Date.now();
    return {
      routeKey,
      eventType,
      messageDirection: 'IN',
      connectionId,
      connectedAt: this.sockets.get(connectionId)?.connectedAt ?? now,
      domainName: req.headers.host ?? '127.0.0.1',
      stage: WS_STAGE,
      apiId: API_ID,
      requestId: randomUUID(),
      extendedRequestId: randomUUID(),
      requestTimeEpoch: now,
      identity: {
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: req.headers['user-agent'] ?? '',
      },
    };
  }
}

type CompiledRoute = HttpRoute & { pattern: RegExp };

const compileRoutes = (routes: readonly HttpRoute[]): CompiledRoute[] =>
  routes.map((route) => ({
    ...route,
    pattern: new RegExp(`^${route.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
  }));

const matchRoute = (compiled: readonly CompiledRoute[], method: string, path: string) => {
  for (const route of compiled) {
    if (route.method !== method) continue;
    const m = route.pattern.exec(path);
    if (m) {
      const pathParameters = Object.fromEntries(
        Object.entries(m.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]),
      );
      return { handler: route.fn, routeKey: route.routeKey, pathParameters };
    }
  }
  return undefined;
};

const toBuffer = (data: RawData): Buffer =>
  Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);

/** Reads at most 10 MB (HTTP API's own limit); the handlers apply the real limits. */
const readBody = async (req: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > 10 * 1024 * 1024) throw new Error('body over 10 MB');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
};

const flatHeaders = (req: IncomingMessage): Record<string, string> =>
  Object.fromEntries(
    Object.entries(req.headers).map(([k, v]) => [
      k.toLowerCase(),
      Array.isArray(v) ? v.join(',') : (v ?? ''),
    ]),
  );

const httpEvent = (
  req: IncomingMessage,
  url: URL,
  routeKey: string,
  pathParameters: Record<string, string>,
  body: Buffer,
): APIGatewayProxyEventV2 => {
  // API Gateway adds these to every HTTP API request; handlers that rebuild the public URL rely on them.
  const headers: Record<string, string> = {
    ...flatHeaders(req),
    'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1',
    'x-forwarded-port': String(req.socket.localPort ?? ''),
    'x-forwarded-proto': 'http',
  };
  const textual = /^(?:application\/(?:[\w.+-]+\+)?json|text\/)/i.test(headers['content-type'] ?? '');
  const now = Date.now();
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
    pathParameters,
    // HTTP API base64-encodes bodies it does not consider text, exactly like this.
    body: body.byteLength === 0 ? undefined : textual ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: body.byteLength > 0 && !textual,
    requestContext: {
      accountId: '000000000000',
      apiId: API_ID,
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: API_ID,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
  };
};
