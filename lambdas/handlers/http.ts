import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { HttpProblem } from '../core/problem';
import { errorFields } from '../logger';
import type { Logger } from '../ports';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2 & {
  statusCode: number;
  headers: Record<string, string>;
};
export type HttpHandler = (event: HttpEvent) => Promise<HttpResult>;

export const json = (
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResult => ({
  statusCode,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  body: JSON.stringify(body),
});

export const problemResponse = (problem: HttpProblem): HttpResult => ({
  statusCode: problem.status,
  headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...problem.headers },
  body: JSON.stringify(problem.toBody()),
});

/** HTTP API v2 lower-cases header names already; this also covers hand-built events. */
export const header = (event: HttpEvent, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
};

export const lowerHeaders = (event: HttpEvent): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(event.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));

/** The body exactly as sent: signatures are over these bytes. */
export const rawBody = (event: HttpEvent): Buffer =>
  event.body === undefined
    ? Buffer.alloc(0)
    : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');

export const isJsonContentType = (value: string | undefined): boolean =>
  value !== undefined && /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(value.trim());

export const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : 'unparseable';
    throw new HttpProblem(400, 'malformed_json', `body is not valid JSON: ${detail}`);
  }
};

/** The one place an error becomes a response: known problems as problem+json, anything else as a bare 500. */
export const withProblems =
  (logger: Logger, handler: HttpHandler): HttpHandler =>
  async (event) => {
    try {
      return await handler(event);
    } catch (error) {
      if (error instanceof HttpProblem) {
        logger.info('request rejected', {
          route: event.routeKey,
          status: error.status,
          code: error.code,
          detail: error.detail,
        });
        return problemResponse(error);
      }
      logger.error('request failed', { route: event.routeKey, ...errorFields(error) });
      return problemResponse(
        new HttpProblem(500, 'internal_error', 'the request could not be completed; it is safe to retry'),
      );
    }
  };
