/**
 * The URL a provider called, rebuilt from an API Gateway HTTP API (payload 2.0) event: Twilio and Plivo sign
 * it byte for byte, so scheme, host, stage path and query must all be what the provider used.
 *
 * - scheme: `x-forwarded-proto`, which API Gateway sets (https); https when absent.
 * - host: the `host` header (a custom domain when one is mapped), else `requestContext.domainName`.
 * - path: `rawPath`. On the execute-api host a named stage is part of the public path; should `rawPath` lack
 *   it, it is put back. A custom domain's base-path mapping is not visible in the event: use the
 *   execute-api URL or a mapping without a base path for signed providers.
 * - query: `rawQueryString`, untouched (Twilio signs it as sent).
 */
import type { HttpEvent } from './http';

export const publicUrl = (event: HttpEvent): string => {
  const headers = Object.fromEntries(
    Object.entries(event.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const proto = (headers['x-forwarded-proto']?.split(',')[0]?.trim() || 'https').toLowerCase();
  const host = headers.host?.trim() || event.requestContext.domainName;
  const stage = event.requestContext.stage;
  let path = event.rawPath || '/';
  const executeApi = /\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?::\d+)?$/i.test(host);
  if (executeApi && stage && stage !== '$default' && path !== `/${stage}` && !path.startsWith(`/${stage}/`)) {
    path = `/${stage}${path}`;
  }
  return `${proto}://${host}${path}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
};
