/**
 * Who may do what. A Kommo disposable token (HS256 JWT signed with the integration's secret key, sent by
 * `self.$authorizedAjax` in `X-Auth-Token`) proves the Kommo user; it is exchanged for a single-use socket
 * ticket, because a browser cannot set headers on `new WebSocket()` and a query string ends up in logs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { HttpProblem } from './problem';

/** Kommo's own clock and ours may disagree a little; the brief allows up to 60 s. */
export const TOKEN_CLOCK_TOLERANCE_SECONDS = 60;
/** A ticket is used within a second of being issued; 60 s covers a slow network without being worth stealing. */
export const TICKET_TTL_SECONDS = 60;

export const KOMMO_DOMAINS = ['kommo.com', 'amocrm.ru', 'amocrm.com'] as const;

export interface AccountSecrets {
  subdomain: string;
  /** Top-level Kommo domain of the account (`kommo.com`, `amocrm.ru`, `amocrm.com`). */
  domain: string;
  integrationId: string;
  clientSecret: string;
}

export interface KommoIdentity {
  subdomain: string;
  userId: number;
  accountId: number | undefined;
  isAdmin: boolean;
}

const unauthorized = (detail: string) => new HttpProblem(401, 'unauthorized', detail);

/** `https://acme.kommo.com` → `acme` and `kommo.com`, or undefined for anything else. */
export const parseIssuer = (iss: unknown): { subdomain: string; domain: string } | undefined => {
  if (typeof iss !== 'string') return undefined;
  let host: string;
  try {
    host = new URL(iss.includes('://') ? iss : `https://${iss}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
  for (const domain of KOMMO_DOMAINS) {
    const suffix = `.${domain}`;
    if (host.endsWith(suffix)) {
      const subdomain = host.slice(0, -suffix.length);
      if (/^[a-z0-9-]{1,63}$/.test(subdomain)) return { subdomain, domain };
    }
  }
  return undefined;
};

const positiveInt = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
};

/**
 * Verify a disposable token for the account its issuer names.
 * @param lookup finds the account registered for a subdomain
 * @throws HttpProblem 401 (bad token) or 404 (account not registered)
 */
export const verifyKommoToken = async (
  token: string | undefined,
  lookup: (subdomain: string) => Promise<AccountSecrets | undefined>,
  now: Date,
): Promise<KommoIdentity> => {
  if (!token)
    throw unauthorized('X-Auth-Token: expected a Kommo disposable token (use self.$authorizedAjax)');
  let unverified: ReturnType<typeof decodeJwt>;
  try {
    unverified = decodeJwt(token);
  } catch {
    throw unauthorized('X-Auth-Token: not a JWT');
  }
  const issuer = parseIssuer(unverified.iss);
  if (!issuer) throw unauthorized('X-Auth-Token: iss must be https://<subdomain>.kommo.com (or amoCRM)');
  const account = await lookup(issuer.subdomain);
  if (!account)
    throw new HttpProblem(404, 'unknown_account', `account "${issuer.subdomain}" is not registered`);
  if (account.domain !== issuer.domain) {
    throw unauthorized(`X-Auth-Token: iss host must be ${account.subdomain}.${account.domain}`);
  }
  let claims: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload: claims } = await jwtVerify(token, new TextEncoder().encode(account.clientSecret), {
      algorithms: ['HS256'],
      clockTolerance: TOKEN_CLOCK_TOLERANCE_SECONDS,
      currentDate: now,
      requiredClaims: ['exp', 'iat'],
    }));
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthorized('X-Auth-Token: token has expired');
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      throw unauthorized(
        `X-Auth-Token: claim "${error.claim}" ${error.reason === 'missing' ? 'is missing' : 'is not valid now'}`,
      );
    }
    if (error instanceof joseErrors.JOSEAlgNotAllowed)
      throw unauthorized('X-Auth-Token: only HS256 is accepted');
    throw unauthorized(
      'X-Auth-Token: signature does not verify with the integration secret key; check the account’s client secret',
    );
  }
  if (typeof claims.iat === 'number' && claims.iat > now.getTime() / 1000 + TOKEN_CLOCK_TOLERANCE_SECONDS) {
    throw unauthorized('X-Auth-Token: claim "iat" is in the future');
  }
  const userId = positiveInt(claims.user_id);
  if (!userId) throw unauthorized('X-Auth-Token: claim "user_id" is missing');
  if (claims.subdomain !== undefined && claims.subdomain !== account.subdomain) {
    throw unauthorized('X-Auth-Token: claim "subdomain" does not match iss');
  }
  if (claims.client_uuid !== undefined && claims.client_uuid !== account.integrationId) {
    throw unauthorized('X-Auth-Token: claim "client_uuid" is not this integration');
  }
  return {
    subdomain: account.subdomain,
    userId,
    accountId: positiveInt(claims.account_id),
    isAdmin: claims.is_admin === true || claims.is_admin === 'Y' || claims.is_admin === 1,
  };
};

export interface TicketRecord {
  subdomain: string;
  userId: number;
  /** Epoch milliseconds after which the ticket no longer opens a socket. */
  expiresAt: number;
}

export interface IssuedTicket {
  /** Given to the widget once; never stored. */
  ticket: string;
  /** What the store keys the ticket by, so a read of the table cannot open sockets. */
  hash: string;
  record: TicketRecord;
}

export const hashTicket = (ticket: string): string => createHash('sha256').update(ticket).digest('base64url');

export const issueTicket = (
  identity: KommoIdentity,
  now: Date,
  ttlSeconds = TICKET_TTL_SECONDS,
): IssuedTicket => {
  const ticket = randomBytes(32).toString('base64url');
  return {
    ticket,
    hash: hashTicket(ticket),
    record: {
      subdomain: identity.subdomain,
      userId: identity.userId,
      expiresAt: now.getTime() + Math.min(ttlSeconds, TICKET_TTL_SECONDS) * 1000,
    },
  };
};

export const isTicketShape = (value: unknown): value is string =>
  typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);

export const isTicketUsable = (record: TicketRecord | undefined, now: Date): record is TicketRecord =>
  record !== undefined && record.expiresAt > now.getTime();
