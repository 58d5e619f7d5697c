/**
 * Vonage signed callbacks: `Authorization: Bearer <JWT>`, HS256 with the account's signature secret
 * (Dashboard → Settings → Signature secret). The JWT's `iat` bounds replays and its `payload_hash`
 * (hex SHA-256 of the body) binds the body; both are required here.
 * developer.vonage.com/en/getting-started/concepts/webhooks#validating-signed-webhooks
 */
import { createHash } from 'node:crypto';
import { errors as joseErrors, jwtVerify } from 'jose';
import { HttpProblem } from '../../core/problem';
import { badSignature, requireHeader, safeEqual } from '../verify-util';

export const VONAGE_MAX_AGE_SECONDS = 300;
const CLOCK_TOLERANCE_SECONDS = 60;

export const verifyVonage = async (
  headers: Readonly<Record<string, string | undefined>>,
  body: Buffer,
  signatureSecret: string,
  nowMs: number,
): Promise<void> => {
  const authorization = requireHeader(headers, 'authorization', 'Vonage signs callbacks with a Bearer JWT');
  const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
  if (!token) throw badSignature('Authorization: expected "Bearer <JWT>"');
  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await jwtVerify(token, new TextEncoder().encode(signatureSecret), {
      algorithms: ['HS256'],
      requiredClaims: ['iat'],
      maxTokenAge: VONAGE_MAX_AGE_SECONDS,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(nowMs),
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTClaimValidationFailed || error instanceof joseErrors.JWTExpired) {
      throw new HttpProblem(
        401,
        'bad_timestamp',
        `Authorization JWT rejected: ${error.message} (at most ${VONAGE_MAX_AGE_SECONDS} s old)`,
      );
    }
    throw badSignature(
      'Authorization JWT does not verify with the connected signature secret (HS256); check the secret and that signed callbacks use it',
    );
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
