/**
 * Telnyx signs `${telnyx-timestamp}|${raw body}` with Ed25519; the account's public key (Mission Control →
 * Keys & Credentials → Public Key, base64 of the raw 32 bytes) verifies it. The timestamp is inside the
 * signature, so a tolerance window stops replays of old deliveries (telnyx-node uses 300 s, as we do).
 */
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { HttpProblem } from '../../core/problem';
import { badSignature, requireHeader } from '../verify-util';

export const TELNYX_TOLERANCE_SECONDS = 300;

/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const keys = new Map<string, KeyObject>();

export const isTelnyxPublicKey = (base64: string): boolean =>
  /^[A-Za-z0-9+/]{43}=$/.test(base64) && Buffer.from(base64, 'base64').byteLength === 32;

const publicKey = (base64: string): KeyObject => {
  let key = keys.get(base64);
  if (!key) {
    key = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, Buffer.from(base64, 'base64')]),
      format: 'der',
      type: 'spki',
    });
    if (keys.size > 100) keys.clear();
    keys.set(base64, key);
  }
  return key;
};

export const verifyTelnyx = (
  headers: Readonly<Record<string, string | undefined>>,
  body: Buffer,
  publicKeyBase64: string,
  nowMs: number,
): void => {
  const signature = requireHeader(headers, 'telnyx-signature-ed25519', 'Telnyx signs every webhook');
  const timestamp = requireHeader(headers, 'telnyx-timestamp', 'the signed send time');
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw new HttpProblem(401, 'bad_timestamp', 'telnyx-timestamp: expected Unix seconds');
  }
  const skew = Math.floor(nowMs / 1000) - Number(timestamp);
  if (Math.abs(skew) > TELNYX_TOLERANCE_SECONDS) {
    throw new HttpProblem(
      401,
      'bad_timestamp',
      `telnyx-timestamp is ${Math.abs(skew)} s ${skew > 0 ? 'old' : 'in the future'}; at most ${TELNYX_TOLERANCE_SECONDS} s is accepted`,
    );
  }
  const sig = Buffer.from(signature, 'base64');
  if (sig.byteLength !== 64 || !isTelnyxPublicKey(publicKeyBase64)) {
    throw badSignature('telnyx-signature-ed25519: expected a base64 Ed25519 signature (64 bytes)');
  }
  const message = Buffer.concat([Buffer.from(`${timestamp}|`, 'utf8'), body]);
  if (!verify(null, message, publicKey(publicKeyBase64), sig)) {
    throw badSignature(
      'telnyx-signature-ed25519 does not verify with the connected public key over timestamp|body',
    );
  }
};
