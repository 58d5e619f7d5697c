/**
 * Vonage signed callbacks: `Authorization: Bearer <JWT>`, HS256 with the account's signature secret
 * (Dashboard → Settings → Signature secret). The JWT's `iat` bounds replays and its `payload_hash`
 * (hex SHA-256 of the body) binds the body; both are required here.
 * developer.vonage.com/en/getting-started/concepts/webhooks#validating-signed-webhooks
 *
 * HS256 is checked with node:crypto rather than `jose`: one algorithm, pinned, is a few lines, and it keeps
 * 15 KB out of a bundle that sits at the cold-start budget (bench/run.ts, section 5).
 */
import { createHash, createHmac } from 'node:crypto';
import { HttpProblem } from '../../core/problem';
import { badSignature, requireHeader, safeEqual } from '../verify-util';

export const VONAGE_MAX_AGE_SECONDS = 300;
const CLOCK_TOLERANCE_SECONDS = 60;

const decodeJson = (part: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
};

export const verifyVonage = (
  headers: Readonly<Record<string, string | undefined>>,
  body: Buffer,
  signatureSecret: string,
  nowMs: number,
): void => {
  const authorization = requireHeader(headers, 'authorization', 'Vonage signs callbacks with a Bearer JWT');
  const token = /^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/i.exec(authorization);
  if (!token) throw badSignature('Authorization: expected "Bearer <JWT>"');
  const [, headerPart = '', claimsPart = '', signaturePart = ''] = token;
  // The algorithm is pinned: a token claiming anything but HS256 (including "none") is refused.
  if (decodeJson(headerPart)?.alg !== 'HS256') throw badSignature('Authorization JWT: expected alg HS256');
  const expected = createHmac('sha256', signatureSecret)
    .update(`${headerPart}.${claimsPart}`)
    .digest('base64url');
  if (!safeEqual(expected, signaturePart)) {
    throw badSignature(
      'Authorization JWT does not verify with the connected signature secret (HS256); check the secret and that signed callbacks use it',
    );
  }
  const claims = decodeJson(claimsPart);
  if (!claims) throw badSignature('Authorization JWT: claims are not a JSON object');
  const now = Math.floor(nowMs / 1000);
  const iat = claims.iat;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    throw new HttpProblem(401, 'bad_timestamp', 'Authorization JWT: iat is required');
  }
  if (now - iat > VONAGE_MAX_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS) {
    throw new HttpProblem(
      401,
      'bad_timestamp',
      `Authorization JWT is ${now - iat} s old; at most ${VONAGE_MAX_AGE_SECONDS} s is accepted`,
    );
  }
  if (iat - now > CLOCK_TOLERANCE_SECONDS) {
    throw new HttpProblem(401, 'bad_timestamp', `Authorization JWT iat is ${iat - now} s in the future`);
  }
  if (typeof claims.exp === 'number' && now > claims.exp + CLOCK_TOLERANCE_SECONDS) {
    throw new HttpProblem(401, 'bad_timestamp', 'Authorization JWT has expired');
  }
  const hash = claims.payload_hash;
  if (typeof hash !== 'string') {
    throw badSignature('Authorization JWT has no payload_hash: the body would be unsigned');
  }
  const actual = createHash('sha256').update(body).digest('hex');
  if (!safeEqual(hash.toLowerCase(), actual)) {
    throw badSignature('payload_hash does not match the body: the body was altered');
  }
};
