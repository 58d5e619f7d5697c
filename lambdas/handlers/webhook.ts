/**
 * POST /webhooks/{subdomain}: a signed CallEvent from the phone system.
 *
 * Checks run cheapest and least revealing first (size, account, media type, signature), so an unsigned
 * sender learns nothing about the schema. Nothing is stored or pushed until every check has passed.
 */
import { HttpProblem } from '../core/problem';
import { MAX_WEBHOOK_BYTES, parseCallEvent } from '../core/protocol';
import { readWebhookHeaders, verifySignature } from '../core/webhook-signature';
import { type Account, activeWebhookSecrets } from '../ports';
import { type IngestDeps, ingestCallEvent } from '../usecases/ingest-call-event';
import {
  type HttpHandler,
  isJsonContentType,
  json,
  lowerHeaders,
  parseJson,
  rawBody,
  withProblems,
} from './http';

export interface WebhookDeps extends IngestDeps {
  account: (subdomain: string) => Promise<Account | undefined>;
}

export const makeWebhookHandler = (deps: WebhookDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const body = rawBody(event);
    if (body.byteLength > MAX_WEBHOOK_BYTES) {
      throw new HttpProblem(
        413,
        'payload_too_large',
        `body is ${body.byteLength} bytes; at most 65536 are accepted`,
      );
    }
    const subdomain = (event.pathParameters?.subdomain ?? '').toLowerCase();
    const account = /^[a-z0-9-]{1,63}$/.test(subdomain) ? await deps.account(subdomain) : undefined;
    if (!account) throw new HttpProblem(404, 'unknown_account', `account "${subdomain}" is not registered`);
    const headers = lowerHeaders(event);
    if (!isJsonContentType(headers['content-type'])) {
      throw new HttpProblem(
        415,
        'unsupported_media_type',
        `content-type: expected application/json, got "${headers['content-type'] ?? ''}"`,
      );
    }
    const now = deps.clock.now();
    const signed = readWebhookHeaders(headers);
    const text = body.toString('utf8');
    verifySignature(text, signed, activeWebhookSecrets(account, now), Math.floor(now / 1000));
    if (account.status === 'disabled') {
      throw new HttpProblem(
        410,
        'account_disabled',
        'Callbridge was disabled in this Kommo account; events are not accepted until it is installed again',
      );
    }
    const parsed = parseCallEvent(parseJson(text));
    if (!parsed.ok) {
      throw new HttpProblem(
        400,
        'invalid_body',
        `${parsed.issues[0]?.field}: ${parsed.issues[0]?.message}`,
        parsed.issues,
      );
    }
    const outcome = await ingestCallEvent(deps, { subdomain, dedupeId: signed.id, event: parsed.value, now });
    return outcome.duplicate ? json(200, { ...outcome.result, duplicate: true }) : json(202, outcome.result);
  });
