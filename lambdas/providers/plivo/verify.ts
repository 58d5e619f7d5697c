/**
 * Plivo signature V3: Base64(HMAC-SHA256(auth token, URL + sorted POST params + "." + nonce)), in
 * X-Plivo-Signature-V3 (and X-Plivo-Signature-Ma-V3 with the main account's token), each possibly a
 * comma-separated list while tokens rotate. The URL part follows plivo-node `validateV3Signature`
 * (src/utils/v3Security.js): query parameters sorted as `k=v` joined by `&`, then a `.` before the body
 * parameters when both exist. The nonce makes each signature unique, but Plivo sends no timestamp: a replay
 * is caught only as a duplicate of its natural key.
 */
import { createHmac } from 'node:crypto';
import type { FormParams } from '../form';
import { badSignature, requireHeader, safeEqual } from '../verify-util';

const sortedValues = (values: readonly string[] | undefined) => [...(values ?? [])].sort();

/** The string Plivo signs for a POST, before `.nonce`. */
export const plivoSignedUrl = (url: string, params: FormParams): string => {
  const queryStart = url.indexOf('?');
  const base = queryStart === -1 ? url : url.slice(0, queryStart);
  const query = new Map<string, string[]>();
  if (queryStart !== -1) {
    for (const [name, value] of new URLSearchParams(url.slice(queryStart + 1))) {
      query.set(name, [...(query.get(name) ?? []), value]);
    }
  }
  const queryString = [...query.keys()]
    .sort()
    .flatMap((name) => sortedValues(query.get(name)).map((value) => `${name}=${value}`))
    .join('&');
  let signed = base;
  if (queryString || params.size > 0) signed += `?${queryString}`;
  if (queryString && params.size > 0) signed += '.';
  for (const name of [...params.keys()].sort()) {
    for (const value of sortedValues(params.get(name))) signed += name + value;
  }
  return signed;
};

export const plivoSignature = (authToken: string, signedUrl: string, nonce: string): string =>
  createHmac('sha256', authToken).update(`${signedUrl}.${nonce}`, 'utf8').digest('base64');

export const verifyPlivo = (
  input: { url: string; headers: Readonly<Record<string, string | undefined>>; params: FormParams },
  authToken: string,
): void => {
  const nonce = requireHeader(input.headers, 'x-plivo-signature-v3-nonce', 'signed with the V3 signature');
  const candidates = [
    input.headers['x-plivo-signature-v3'],
    input.headers['x-plivo-signature-ma-v3'],
  ].flatMap((header) => (header ? header.split(',').map((s) => s.trim()) : []));
  if (candidates.length === 0) {
    requireHeader(input.headers, 'x-plivo-signature-v3', 'Plivo signs every callback');
  }
  const expected = plivoSignature(authToken, plivoSignedUrl(input.url, input.params), nonce);
  if (!candidates.some((candidate) => safeEqual(candidate, expected))) {
    throw badSignature(
      'X-Plivo-Signature-V3 does not match this URL, body and nonce for the connected auth token (check the URL in Plivo and the auth token)',
    );
  }
};
