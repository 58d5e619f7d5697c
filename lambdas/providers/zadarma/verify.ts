/**
 * Zadarma signs 2–3 fields per notification, never the whole body and never a time:
 * `Signature` = Base64(HMAC-SHA1(API secret, fields concatenated)). Which fields depends on the event
 * (zadarma/user-api-v1 lib/Webhook/*.php `getSignatureString`, mirrored by zadarma/user-api-typescript
 * src/Webhook.ts). The two official SDKs disagree on the encoding: the PHP SDK and Zadarma's documentation
 * example base64-encode the hex digest (`base64_encode(hash_hmac('sha1', …))`), the TypeScript SDK the raw
 * digest. Both prove knowledge of the secret, so both are accepted.
 *
 * Unlike the TypeScript SDK, which skips the check when the header is absent, a missing Signature is refused.
 */
import { createHmac } from 'node:crypto';
import { HttpProblem } from '../../core/problem';
import { badSignature, requireHeader, safeEqual } from '../verify-util';

export const ZADARMA_SIGNED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
  NOTIFY_IVR: ['caller_id', 'called_did', 'call_start'],
};

export const verifyZadarma = (
  headers: Readonly<Record<string, string | undefined>>,
  fields: Readonly<Record<string, string>>,
  apiSecret: string,
): void => {
  const signature = requireHeader(headers, 'signature', 'Zadarma signs notifications once an API key exists');
  const event = fields.event ?? '';
  const signed = ZADARMA_SIGNED_FIELDS[event];
  if (!signed) {
    throw new HttpProblem(
      400,
      'invalid_body',
      `event: expected one of ${Object.keys(ZADARMA_SIGNED_FIELDS).join(', ')}`,
    );
  }
  const text = signed.map((name) => fields[name] ?? '').join('');
  const hex = createHmac('sha1', apiSecret).update(text, 'utf8').digest('hex');
  const candidates = [
    Buffer.from(hex, 'utf8').toString('base64'),
    createHmac('sha1', apiSecret).update(text, 'utf8').digest('base64'),
  ];
  if (!candidates.some((candidate) => safeEqual(candidate, signature))) {
    throw badSignature(
      `Signature does not match ${signed.join('.')} for the connected API secret (check the secret in Zadarma → Settings → API)`,
    );
  }
};
