import { formObject, parseForm, parsePayload } from '../form';
import { parseJsonObject } from '../json';
import type { ProviderAdapter } from '../port';
import { jsonReply } from '../reply';
import { normalizeTwilio, type TwilioPayload, TwilioPayloadSchema } from '../twilio/normalize';
import { normalizeTelnyx, type TelnyxPayload, TelnyxPayloadSchema } from './normalize';
import { verifyTelnyx } from './verify';

/**
 * Telnyx posts Call Control (API v2) events as JSON, and TeXML status callbacks as Twilio-compatible forms
 * (same names and statuses: developers.telnyx.com/api-reference/callbacks/texml-*); both are signed the same
 * Ed25519 way, so one adapter takes both and reads TeXML with the Twilio mapping.
 */
type Payload = { kind: 'call-control'; event: TelnyxPayload } | { kind: 'texml'; callback: TwilioPayload };

const isForm = (contentType: string | undefined) =>
  /^application\/x-www-form-urlencoded/i.test(contentType?.trim() ?? '');

export const telnyx: ProviderAdapter<{ publicKey: string }, Payload> = {
  name: 'telnyx',
  mediaTypes: ['application/json', 'application/x-www-form-urlencoded'],
  credentials: (account) => account.providers?.telnyx,
  verify: (request, { publicKey }) =>
    verifyTelnyx(request.headers, request.body, publicKey, request.receivedAt),
  parse(request) {
    const text = request.body.toString('utf8');
    return isForm(request.headers['content-type'])
      ? { kind: 'texml', callback: parsePayload(TwilioPayloadSchema, formObject(parseForm(text))) }
      : { kind: 'call-control', event: parsePayload(TelnyxPayloadSchema, parseJsonObject(text)) };
  },
  normalize: (payload, request) =>
    payload.kind === 'texml'
      ? normalizeTwilio(payload.callback, request.receivedAt, undefined)
      : normalizeTelnyx(payload.event, request.receivedAt),
  respond: jsonReply,
};
