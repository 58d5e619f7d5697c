import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { mintKommoToken } from '../../infra/local/kommo-token';
import {
  type AccountSecrets,
  hashTicket,
  issueTicket,
  isTicketShape,
  isTicketUsable,
  parseIssuer,
  verifyKommoToken,
} from '../../lambdas/core/auth';
import { HttpProblem } from '../../lambdas/core/problem';

const acme: AccountSecrets = {
  subdomain: 'acme',
  domain: 'kommo.com',
  integrationId: 'int-acme',
  clientSecret: 'acme-secret-0123456789abcdef',
};
const lookup = async (subdomain: string) => (subdomain === 'acme' ? acme : undefined);
const now = new Date();
const nowS = Math.floor(now.getTime() / 1000);

const token = (overrides: Partial<Parameters<typeof mintKommoToken>[0]> = {}) =>
  mintKommoToken({
    subdomain: 'acme',
    clientSecret: acme.clientSecret,
    integrationId: 'int-acme',
    userId: 7,
    ...overrides,
  });

const rejection = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HttpProblem) return { status: error.status, detail: error.detail };
    throw error;
  }
  throw new Error('expected a rejection');
};

describe('Kommo disposable token', () => {
  it('yields the user, account and admin flag of a genuine token', async () => {
    const identity = await verifyKommoToken(await token({ isAdmin: true, accountId: 99 }), lookup, now);
    expect(identity).toEqual({ subdomain: 'acme', userId: 7, accountId: 99, isAdmin: true });
  });

  it('rejects a token signed with another secret', async () => {
    const r = await rejection(verifyKommoToken(await token({ clientSecret: 'x'.repeat(32) }), lookup, now));
    expect(r).toEqual({
      status: 401,
      detail: expect.stringContaining('signature does not verify with the integration secret key'),
    });
  });

  it('allows 60 s of clock skew and no more', async () => {
    const justExpired = await token({ issuedAt: nowS - 1830, lifetimeSeconds: 1800 });
    await expect(verifyKommoToken(justExpired, lookup, now)).resolves.toMatchObject({ userId: 7 });
    const expired = await token({ issuedAt: nowS - 1900, lifetimeSeconds: 1800 });
    expect((await rejection(verifyKommoToken(expired, lookup, now))).detail).toContain('expired');
    const future = await token({ issuedAt: nowS + 120 });
    expect((await rejection(verifyKommoToken(future, lookup, now))).status).toBe(401);
  });

  it('refuses alg none and other algorithms', async () => {
    const none = new UnsecuredJWT({ user_id: 7 })
      .setIssuer('https://acme.kommo.com')
      .setIssuedAt()
      .setExpirationTime('1h')
      .encode();
    expect((await rejection(verifyKommoToken(none, lookup, now))).status).toBe(401);
    const hs512 = await token({ algorithm: 'HS512' });
    expect((await rejection(verifyKommoToken(hs512, lookup, now))).detail).toContain('HS256');
  });

  it('answers 404 for an account that is not registered', async () => {
    const other = await token({ subdomain: 'nobody' });
    expect(await rejection(verifyKommoToken(other, lookup, now))).toEqual({
      status: 404,
      detail: 'account "nobody" is not registered',
    });
  });

  it('refuses an issuer on another Kommo domain than the account', async () => {
    const ru = await token({ domain: 'amocrm.ru' });
    expect((await rejection(verifyKommoToken(ru, lookup, now))).detail).toContain('acme.kommo.com');
  });

  it('requires user_id and exp', async () => {
    const key = new TextEncoder().encode(acme.clientSecret);
    const noUser = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://acme.kommo.com')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    expect((await rejection(verifyKommoToken(noUser, lookup, now))).detail).toContain('user_id');
    const noExp = await new SignJWT({ user_id: 7 })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://acme.kommo.com')
      .setIssuedAt()
      .sign(key);
    expect((await rejection(verifyKommoToken(noExp, lookup, now))).detail).toContain('exp');
  });

  it('rejects garbage and a missing header with 401', async () => {
    expect((await rejection(verifyKommoToken(undefined, lookup, now))).status).toBe(401);
    expect((await rejection(verifyKommoToken('not.a.jwt', lookup, now))).status).toBe(401);
  });

  it('parses issuers of every Kommo domain and nothing else', () => {
    expect(parseIssuer('https://acme.kommo.com')).toEqual({ subdomain: 'acme', domain: 'kommo.com' });
    expect(parseIssuer('https://acme.amocrm.ru')).toEqual({ subdomain: 'acme', domain: 'amocrm.ru' });
    expect(parseIssuer('https://acme.kommo.com.evil.io')).toBeUndefined();
    expect(parseIssuer('https://a.b.kommo.com')).toBeUndefined();
    expect(parseIssuer(42)).toBeUndefined();
  });
});

describe('tickets', () => {
  const identity = { subdomain: 'acme', userId: 7, accountId: 1, isAdmin: false };

  it('are random, stored only as a hash, and live at most 60 s', () => {
    const a = issueTicket(identity, now);
    const b = issueTicket(identity, now);
    expect(a.ticket).not.toBe(b.ticket);
    expect(isTicketShape(a.ticket)).toBe(true);
    expect(a.hash).toBe(hashTicket(a.ticket));
    expect(a.hash).not.toContain(a.ticket);
    expect(a.record.expiresAt - now.getTime()).toBe(60_000);
    expect(issueTicket(identity, now, 600).record.expiresAt - now.getTime()).toBe(60_000);
  });

  it('are usable until they expire', () => {
    const { record } = issueTicket(identity, now);
    expect(isTicketUsable(record, new Date(now.getTime() + 59_999))).toBe(true);
    expect(isTicketUsable(record, new Date(now.getTime() + 60_000))).toBe(false);
    expect(isTicketUsable(undefined, now)).toBe(false);
  });
});
