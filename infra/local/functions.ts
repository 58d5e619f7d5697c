/**
 * The local stack runs the handler factories in-process, but attaches them the way the manifest declares
 * (routes, WebSocket routes, authorizer) and holds each to its declared timeout, as Lambda would.
 */
import type { APIGatewayProxyEventV2, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import {
  FUNCTIONS,
  type FunctionName,
  httpRoutes,
  webSocketFunction,
} from '../../lambdas/functions/manifest';
import type { HttpResult } from '../../lambdas/handlers/http';
import type { AuthorizerResult, WebSocketEvent, WebSocketResult } from '../../lambdas/handlers/websocket';
import type { GatewayHandlers } from './gateway';

// biome-ignore lint/suspicious/noExplicitAny: each function has its own event type; the manifest decides which.
type AnyHandler = (event: any) => Promise<any>;
export type LocalHandlers = Record<FunctionName, AnyHandler>;

/** What Lambda reports when a function runs past its timeout; the gateway turns it into a 500. */
export class FunctionTimeoutError extends Error {
  override readonly name = 'FunctionTimeoutError';
}

const withTimeout =
  (name: string, handler: AnyHandler, ms: number): AnyHandler =>
  (event) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new FunctionTimeoutError(`${name}: Task timed out after ${(ms / 1000).toFixed(2)} seconds`)),
        ms,
      );
    });
    return Promise.race([handler(event), timeout]).finally(() => clearTimeout(timer));
  };

/** Invocations and their wall time per function: what Lambda would bill. */
export type InvocationStats = Partial<Record<FunctionName, { count: number; totalMs: number }>>;

export const attachByManifest = (
  handlers: LocalHandlers,
  timeoutsMs: Partial<Record<FunctionName, number>> = {},
  stats: InvocationStats = {},
): GatewayHandlers => {
  const bounded = (name: string): AnyHandler => {
    const fn = name as FunctionName;
    const handler = handlers[fn];
    if (!handler) throw new Error(`local stack: no handler for function ${name}`);
    const limited = withTimeout(name, handler, timeoutsMs[fn] ?? FUNCTIONS[fn].timeoutSeconds * 1000);
    return async (event) => {
      const started = performance.now();
      try {
        return await limited(event);
      } finally {
        const entry = stats[fn] ?? { count: 0, totalMs: 0 };
        entry.count++;
        entry.totalMs += performance.now() - started;
        stats[fn] = entry;
      }
    };
  };
  const http: GatewayHandlers['http'] = {};
  for (const route of httpRoutes()) http[route.fn] ??= bounded(route.fn);
  return {
    http: http as Record<string, (event: APIGatewayProxyEventV2) => Promise<HttpResult>>,
    authorizer: bounded(webSocketFunction('websocket-authorizer')) as (
      event: APIGatewayRequestAuthorizerEvent,
    ) => Promise<AuthorizerResult>,
    connect: bounded(webSocketFunction('$connect')) as (e: WebSocketEvent) => Promise<WebSocketResult>,
    disconnect: bounded(webSocketFunction('$disconnect')) as (e: WebSocketEvent) => Promise<WebSocketResult>,
    default: bounded(webSocketFunction('$default')) as (e: WebSocketEvent) => Promise<WebSocketResult>,
  };
};
