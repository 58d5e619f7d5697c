/**
 * POST /webhooks/{subdomain}/{provider}: a phone provider's own webhook (Twilio, Telnyx, Vonage, Plivo,
 * Zadarma), verified with that provider's scheme and normalised to a CallEvent; GET on the same URL for
 * providers that probe it (Zadarma's zd_echo).
 *
 * Checks run as on our own webhook route, cheapest and least revealing first: provider, size, account,
 * provider connected, media type, signature; only then is the body read. Nothing is stored or pushed until
 * every check has passed.
 */
import { createHash } from 'node:crypto';
import { HttpProblem } from '../core/problem';
import { MAX_WEBHOOK_BYTES, parseCallEvent } from '../core/protocol';
import type { Account } from '../ports';
import type { IngestReport, ProviderAdapter, ProviderReply, ProviderRequest } from '../providers/port';
import { type IngestDeps, ingestCallEvent } from '../usecases/ingest-call-event';
import { type HttpHandler, type HttpResult, lowerHeaders, rawBody, withProblems } from './http';
import { publicUrl } from './public-url';

export interface ProviderWebhookDeps extends IngestDeps {
  account: (subdomain: string) => Promise<Account | undefined>;
  providers: Readonly<Record<string, ProviderAdapter>>;
}

/** Provider keys may hold any character; long or unusual ones are hashed so the stored key stays tame. */
const dedupeId = (provider: string, key: string): string =>
  /^[A-Za-z0-9._:@-]{1,200}$/.test(key)
    ? `${provider}:${key}`
    : `${provider}:sha256:${createHash('sha256').update(key, 'utf8').digest('base64url')}`;

const mediaType = (value: string | undefined) => value?.split(';')[0]?.trim().toLowerCase() ?? '';

const toResult = (reply: ProviderReply): HttpResult => ({
  statusCode: reply.statusCode,
  headers: reply.headers,
  body: reply.body,
});

export const makeProviderWebhookHandler = (deps: ProviderWebhookDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const name = (event.pathParameters?.provider ?? '').toLowerCase();
    const provider = Object.hasOwn(deps.providers, name) ? deps.providers[name] : undefined;
    if (!provider) {
      throw new HttpProblem(
        404,
        'not_found',
        `provider "${name.slice(0, 32)}": expected one of ${Object.keys(deps.providers).join(', ')}`,
      );
    }
    const body = rawBody(event);
    if (body.byteLength > MAX_WEBHOOK_BYTES) {
      throw new HttpProblem(
        413,
        'payload_too_large',
        `body is ${body.byteLength} bytes; at most ${MAX_WEBHOOK_BYTES} are accepted`,
      );
    }
    const subdomain = (event.pathParameters?.subdomain ?? '').toLowerCase();
    const account = /^[a-z0-9-]{1,63}$/.test(subdomain) ? await deps.account(subdomain) : undefined;
    if (!account) throw new HttpProblem(404, 'unknown_account', `account "${subdomain}" is not registered`);
    const credentials = provider.credentials(account);
    if (!credentials) {
      throw new HttpProblem(
        404,
        'not_found',
        `provider ${provider.name} is not connected to account "${subdomain}" (npm run accounts -- connect ${provider.name} --subdomain ${subdomain} …)`,
      );
    }
    const headers = lowerHeaders(event);
    const request: ProviderRequest = {
      method: event.requestContext.http.method.toUpperCase(),
      url: publicUrl(event),
      headers,
      body,
      receivedAt: deps.clock.now(),
    };
    if (request.method === 'GET') {
      if (!provider.handleGet) {
        throw new HttpProblem(405, 'method_not_allowed', `${provider.name} webhooks are POSTed`, undefined, {
          allow: 'POST',
        });
      }
      return toResult(provider.handleGet(request, credentials));
    }
    if (!provider.mediaTypes.includes(mediaType(headers['content-type']))) {
      throw new HttpProblem(
        415,
        'unsupported_media_type',
        `content-type: expected ${provider.mediaTypes.join(' or ')} from ${provider.name}, got "${mediaType(headers['content-type'])}"`,
      );
    }
    provider.verify(request, credentials);
    const normalized = provider.normalize(provider.parse(request), request);
    let report: IngestReport;
    if (normalized.kind === 'ignore') {
      deps.logger.info('provider event ignored', {
        subdomain,
        provider: provider.name,
        reason: normalized.reason,
      });
      report = { kind: 'ignored', reason: normalized.reason };
    } else {
      // Our own schema has the last word: whatever an adapter produced must be a valid CallEvent.
      const parsed = parseCallEvent(normalized.event);
      if (!parsed.ok) {
        throw new HttpProblem(
          422,
          'invalid_body',
          `${provider.name} notification maps to an invalid call event: ${parsed.issues[0]?.field}: ${parsed.issues[0]?.message}`,
          parsed.issues,
        );
      }
      const outcome = await ingestCallEvent(deps, {
        subdomain,
        dedupeId: dedupeId(provider.name, normalized.dedupeKey),
        event: parsed.value,
        now: request.receivedAt,
      });
      report = { kind: 'applied', duplicate: outcome.duplicate, result: outcome.result };
    }
    return toResult(provider.respond(report));
  });
