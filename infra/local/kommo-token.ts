/**
 * Mints the disposable token Kommo's `self.$authorizedAjax` would send: HS256, signed with the integration's
 * secret key, with the claims Kommo documents. The demo page and the tests use it; production never does.
 */
import { SignJWT } from 'jose';

export interface KommoTokenInput {
  subdomain: string;
  domain?: string;
  clientSecret: string;
  integrationId: string;
  userId: number;
  accountId?: number;
  isAdmin?: boolean;
  /** Seconds since the epoch; defaults to now. */
  issuedAt?: number;
  lifetimeSeconds?: number;
  algorithm?: 'HS256' | 'HS512';
}

export const mintKommoToken = async (input: KommoTokenInput): Promise<string> => {
  const iat = input.issuedAt ?? Math.floor(Date.now() / 1000);
  const domain = input.domain ?? 'kommo.com';
  return new SignJWT({
    account_id: input.accountId ?? 31_000_000,
    user_id: input.userId,
    subdomain: input.subdomain,
    client_uuid: input.integrationId,
    is_admin: input.isAdmin ?? false,
  })
    .setProtectedHeader({ alg: input.algorithm ?? 'HS256', typ: 'JWT' })
    .setIssuer(`https://${input.subdomain}.${domain}`)
    .setAudience('https://callbridge.local')
    .setJti(crypto.randomUUID())
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + (input.lifetimeSeconds ?? 1800))
    .sign(new TextEncoder().encode(input.clientSecret));
};
