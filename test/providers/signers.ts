/**
 * Signatures as each provider makes them, never by our own verifier:
 * - Twilio: the `twilio` SDK's getExpectedTwilioSignature / getExpectedBodyHash.
 * - Telnyx: Ed25519 over `timestamp|body` with a generated key pair (node:crypto), as telnyx-node's own
 *   tests do (tests/webhooks.test.ts).
 * - Vonage: an HS256 JWT with `iat` and `payload_hash`, each token first checked by the official
 *   `@vonage/jwt` verifySignature (which signs only RS256 itself).
 * - Plivo: the V3 formula, each signature first checked by the `plivo` SDK's validateV3Signature (the SDK
 *   has no signing helper).
 * - Zadarma: the formulas of its official SDKs: base64(hex HMAC-SHA1) (user-api-v1 `encodeSignature`) and
 *   base64(raw HMAC-SHA1) (user-api-typescript `getWebhookEvent`).
 */
import { createHash, createHmac, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { verifySignature as vonageVerify } from '@vonage/jwt';
import { SignJWT } from 'jose';
import plivoSdk from 'plivo';
import twilioSdk from 'twilio';

export const twilioSign = (authToken: string, url: string, body: string): Record<string, string> => {
  const params: Record<string, string[] | string> = {};
  for (const [name, value] of new URLSearchParams(body)) {
    const seen = params[name];
    params[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
  }
  return { 'x-twilio-signature': twilioSdk.getExpectedTwilioSignature(authToken, url, params) };
};

/** For a JSON body Twilio signs the URL carrying bodySHA256 and no parameters. */
export const twilioJsonUrl = (url: string, body: string) =>
  `${url}${url.includes('?') ? '&' : '?'}bodySHA256=${twilioSdk.getExpectedBodyHash(body)}`;

export const telnyxKeys = () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  return { publicKey: raw.toString('base64'), privateKey };
};

export const telnyxSign = (
  privateKey: ReturnType<typeof telnyxKeys>['privateKey'],
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> => ({
  'telnyx-timestamp': String(timestamp),
  'telnyx-signature-ed25519': sign(null, Buffer.from(`${timestamp}|${body}`), privateKey).toString('base64'),
});

export const vonageSign = async (
  secret: string,
  body: string,
  opts: { iat?: number; payloadHash?: string | null } = {},
): Promise<Record<string, string>> => {
  const iat = opts.iat ?? Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iat,
    jti: randomUUID(),
    iss: 'Vonage',
    api_key: 'aaaaaaaa',
    application_id: 'aaaaaaaa-bbbb-cccc-dddd-0123456789ab',
  };
  if (opts.payloadHash !== null) {
    claims.payload_hash = opts.payloadHash ?? createHash('sha256').update(body).digest('hex');
  }
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(secret));
  if (!vonageVerify(token, secret)) throw new Error('@vonage/jwt rejects the test token');
  return { authorization: `Bearer ${token}` };
};

export const plivoSign = (authToken: string, url: string, body: string): Record<string, string> => {
  const nonce = String(Math.floor(Math.random() * 1e20));
  const params = Object.fromEntries(new URLSearchParams(body));
  // The V3 formula (plivo-node src/utils/v3Security.js): URL, `?`, sorted body params as name+value.
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const base = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
  const sortedQuery = [...new URLSearchParams(query)]
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : 1) : a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const hasParams = Object.keys(params).length > 0;
  let signed = base;
  if (sortedQuery || hasParams) signed += `?${sortedQuery}`;
  if (sortedQuery && hasParams) signed += '.';
  for (const name of Object.keys(params).sort()) signed += name + params[name];
  const signature = createHmac('sha256', authToken).update(`${signed}.${nonce}`).digest('base64');
  if (!plivoSdk.validateV3Signature('POST', url, nonce, authToken, signature, params)) {
    throw new Error('the plivo SDK rejects the test signature');
  }
  return { 'x-plivo-signature-v3': signature, 'x-plivo-signature-v3-nonce': nonce };
};

const ZADARMA_FIELDS: Record<string, string[]> = {
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
};

/** @param encoding `php`: base64_encode(hash_hmac('sha1', …)) — `ts`: digest('base64') */
export const zadarmaSign = (
  apiSecret: string,
  body: string,
  encoding: 'php' | 'ts' = 'php',
): Record<string, string> => {
  const fields = Object.fromEntries(new URLSearchParams(body));
  const text = (ZADARMA_FIELDS[fields.event ?? ''] ?? []).map((name) => fields[name] ?? '').join('');
  const hmac = createHmac('sha1', apiSecret).update(text);
  const signature =
    encoding === 'php' ? Buffer.from(hmac.digest('hex')).toString('base64') : hmac.digest('base64');
  return { signature };
};
