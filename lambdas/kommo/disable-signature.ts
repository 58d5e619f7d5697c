/**
 * The "integration disabled" hook (kommo-server.md §1.9): Kommo signs `client_uuid|account_id` with the
 * integration's secret key, HMAC-SHA256, hex. Compared in constant time so the answer leaks nothing.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const disableSignature = (clientSecret: string, clientUuid: string, accountId: number): string =>
  createHmac('sha256', clientSecret).update(`${clientUuid}|${accountId}`).digest('hex');

export const verifyDisableSignature = (
  clientSecret: string,
  clientUuid: string,
  accountId: number,
  signature: string,
): boolean => {
  if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = Buffer.from(disableSignature(clientSecret, clientUuid, accountId), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
};
