import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as v from 'valibot';
import { HttpProblem } from '../core/problem';
import { describeIssues } from '../core/protocol';
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

/**
 * A JSON body of at most `maxBytes`, sent as JSON, that `schema` accepts; otherwise the 413, 415 or 400 that
 * says which, naming the first field that failed (all of them in `issues`).
 */
export const readJsonBody = <S extends v.GenericSchema>(
  event: HttpEvent,
  maxBytes: number,
  schema: S,
): v.InferOutput<S> => {
  const body = rawBody(event);
  if (body.byteLength > maxBytes) {
    throw new HttpProblem(413, 'payload_too_large', `body is ${body.byteLength} bytes; at most ${maxBytes}`);
  }
  if (!isJsonContentType(header(event, 'content-type'))) {
    throw new HttpProblem(415, 'unsupported_media_type', 'content-type: expected application/json');
  }
  const parsed = v.safeParse(schema, parseJson(body.toString('utf8')));
  if (!parsed.success) {
    const issues = describeIssues(parsed.issues);
    throw new HttpProblem(400, 'invalid_body', `${issues[0]?.field}: ${issues[0]?.message}`, issues);
  }
  return parsed.output;
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
