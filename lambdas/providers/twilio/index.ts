import { formObject, parseForm, parsePayload } from '../form';
import { parseJsonObject } from '../json';
import type { ProviderAdapter, ProviderReply } from '../port';
import { normalizeTwilio, type TwilioPayload, TwilioPayloadSchema } from './normalize';
import { verifyTwilio } from './verify';

const isJson = (contentType: string | undefined) => /^application\/json/i.test(contentType?.trim() ?? '');

/** Twilio reads TwiML from any answer; an empty `<Response/>` tells a status callback "nothing to do". */
const EMPTY_TWIML: ProviderReply = {
  statusCode: 200,
  headers: { 'content-type': 'text/xml; charset=utf-8', 'cache-control': 'no-store' },
  body: '<?xml version="1.0" encoding="UTF-8"?><Response/>',
};

export const twilio: ProviderAdapter<{ authToken: string }, TwilioPayload> = {
  name: 'twilio',
  mediaTypes: ['application/x-www-form-urlencoded', 'application/json'],
  credentials: (account) => account.providers?.twilio,
  verify(request, { authToken }) {
    const json = isJson(request.headers['content-type']);
    verifyTwilio(
      {
        url: request.url,
        headers: request.headers,
        body: request.body,
        params: json ? undefined : parseForm(request.body.toString('utf8')),
      },
      authToken,
    );
  },
  parse(request) {
    const text = request.body.toString('utf8');
    const input = isJson(request.headers['content-type'])
      ? parseJsonObject(text)
      : formObject(parseForm(text));
    return parsePayload(TwilioPayloadSchema, input);
  },
  normalize: (payload, request) =>
    normalizeTwilio(payload, request.receivedAt, request.headers['i-twilio-idempotency-token']),
  respond: () => EMPTY_TWIML,
};
