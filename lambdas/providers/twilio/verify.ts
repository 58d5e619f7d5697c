/**
 * X-Twilio-Signature: Base64(HMAC-SHA1(auth token, URL as Twilio called it + every POST parameter sorted by
 * name, as name+value)). JSON bodies are not in the signature; Twilio adds `bodySHA256` (hex SHA-256 of the
 * body) to the signed URL instead. Twilio has no timestamp: a replay is caught only as a duplicate.
 * Formula per twilio-node `getExpectedTwilioSignature` (src/webhooks/webhooks.ts).
 */
import { createHash, createHmac } from 'node:crypto';
import type { FormParams } from '../form';
import { portVariants } from '../url';
import { badSignature, requireHeader, safeEqual } from '../verify-util';

export const twilioSignature = (authToken: string, url: string, params: FormParams): string => {
  let data = url;
  for (const name of [...params.keys()].sort()) {
    for (const value of [...new Set(params.get(name))].sort()) data += name + value;
  }
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
};

export const verifyTwilio = (
  input: {
    url: string;
    headers: Readonly<Record<string, string | undefined>>;
    body: Buffer;
    /** Form parameters; absent for a JSON body, which is bound through `bodySHA256` instead. */
    params: FormParams | undefined;
  },
  authToken: string,
): void => {
  const signature = requireHeader(input.headers, 'x-twilio-signature', 'Twilio signs every webhook');
  let params = input.params ?? new Map<string, string[]>();
  if (!input.params) {
    const query = input.url.includes('?') ? input.url.slice(input.url.indexOf('?') + 1) : '';
    const claimed = new URLSearchParams(query).get('bodySHA256') ?? '';
    const actual = createHash('sha256').update(input.body).digest('hex');
    if (!claimed) throw badSignature('bodySHA256: a JSON webhook from Twilio carries it in the URL');
    if (!safeEqual(claimed.toLowerCase(), actual)) {
      throw badSignature('bodySHA256 does not match the body: the body was altered');
    }
    params = new Map();
  }
  const matched = portVariants(input.url).some((url) =>
    safeEqual(twilioSignature(authToken, url, params), signature),
  );
  if (!matched) {
    throw badSignature(
      'X-Twilio-Signature does not match this URL and body for the connected auth token (check the URL pasted in Twilio and the auth token)',
    );
  }
};
