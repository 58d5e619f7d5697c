/**
 * The Kommo rules on their own: token lifetimes and refresh policy, the disable hook's signature, the
 * redirect's validation, settings mapping, and the API client's retries and limiter under a fake clock.
 */
import { createHmac } from 'node:crypto';
import { type Clock as FakeClock, install } from '@sinonjs/fake-timers';
import { afterEach, describe, expect, it } from 'vitest';
import { type AccessTokens, KommoClient } from '../../lambdas/kommo/client';
import { disableSignature, verifyDisableSignature } from '../../lambdas/kommo/disable-signature';
import { KommoError } from '../../lambdas/kommo/errors';
import { KommoLimiter } from '../../lambdas/kommo/limiter';
import { parseDisableHook, parseRedirect } from '../../lambdas/kommo/redirect';
import {
  activeUserIds,
  agentMapFromKommo,
  extensionsFromWidget,
  parseUsersPage,
} from '../../lambdas/kommo/settings';
import {
  ACCESS_LIFETIME_MS,
  codeExpired,
  IDLE_REFRESH_MS,
  REFRESH_LIFETIME_MS,
  refreshNeededForUse,
  refreshNeededOnSchedule,
  type TokenSet,
  tokenSetFrom,
} from '../../lambdas/kommo/tokens-policy';
import type { LogFields, Logger } from '../../lambdas/ports';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

describe('token rules', () => {
  const t0 = 1_800_000_000_000;
  const fresh: TokenSet = tokenSetFrom({ access_token: 'a', refresh_token: 'r', expires_in: 86_400 }, t0);

  it('computes expiry from the request time and Kommo’s expires_in', () => {
    expect(fresh).toEqual({
      accessToken: 'a',
      refreshToken: 'r',
      expiresAt: t0 + ACCESS_LIFETIME_MS,
      refreshIssuedAt: t0,
    });
  });

  it('a request refreshes only within 5 minutes of expiry', () => {
    expect(refreshNeededForUse(fresh, t0 + 23 * HOUR)).toBe('none');
    expect(refreshNeededForUse(fresh, t0 + DAY - 5 * 60_000 - 1)).toBe('none');
    expect(refreshNeededForUse(fresh, t0 + DAY - 5 * 60_000)).toBe('expiring');
    expect(refreshNeededForUse(fresh, t0 + DAY + HOUR)).toBe('expiring');
  });

  it('the hourly job refreshes within 3 hours of expiry, so a failed run still leaves two more tries', () => {
    expect(refreshNeededOnSchedule(fresh, t0 + 20 * HOUR)).toBe('none');
    expect(refreshNeededOnSchedule(fresh, t0 + 21 * HOUR)).toBe('expiring');
  });

  it('idle accounts are refreshed at least monthly even if access tokens lived longer', () => {
    const longAccess = { ...fresh, expiresAt: t0 + 365 * DAY };
    expect(refreshNeededOnSchedule(longAccess, t0 + IDLE_REFRESH_MS - 1)).toBe('none');
    expect(refreshNeededOnSchedule(longAccess, t0 + IDLE_REFRESH_MS)).toBe('idle');
  });

  it('a refresh token unused for 3 months is dead; nothing refreshes it', () => {
    expect(refreshNeededOnSchedule(fresh, t0 + REFRESH_LIFETIME_MS)).toBe('dead');
    expect(refreshNeededForUse(fresh, t0 + REFRESH_LIFETIME_MS)).toBe('dead');
    expect(refreshNeededForUse(fresh, t0 + REFRESH_LIFETIME_MS - 1)).toBe('expiring');
  });

  it('long-lived tokens are never refreshed, only dead when expired', () => {
    const long = { ...fresh, refreshToken: '', longLived: true, expiresAt: t0 + 400 * DAY };
    expect(refreshNeededOnSchedule(long, t0 + 200 * DAY)).toBe('none');
    expect(refreshNeededForUse(long, t0 + 399 * DAY)).toBe('none');
    expect(refreshNeededForUse(long, t0 + 400 * DAY)).toBe('dead');
  });

  it('a code lives 20 minutes', () => {
    expect(codeExpired(t0, t0 + 20 * 60_000 - 1)).toBe(false);
    expect(codeExpired(t0, t0 + 20 * 60_000)).toBe(true);
  });
});

describe('disable hook signature', () => {
  const secret = 'integration-secret-key-0123456789';
  const uuid = '01d0f1f3-6a5e-4b7a-9a41-6a3f0c6a1b2e';

  it('is hex HMAC-SHA256 of "client_uuid|account_id" keyed with the secret (Kommo’s PHP example)', () => {
    const expected = createHmac('sha256', secret).update(`${uuid}|32720107`).digest('hex');
    expect(disableSignature(secret, uuid, 32_720_107)).toBe(expected);
    expect(verifyDisableSignature(secret, uuid, 32_720_107, expected)).toBe(true);
    expect(verifyDisableSignature(secret, uuid, 32_720_107, expected.toUpperCase())).toBe(true);
  });

  it('rejects another account, another integration, another secret, and junk', () => {
    const good = disableSignature(secret, uuid, 32_720_107);
    expect(verifyDisableSignature(secret, uuid, 32_720_108, good)).toBe(false);
    expect(verifyDisableSignature(secret, 'another', 32_720_107, good)).toBe(false);
    expect(verifyDisableSignature('another-secret-0123456789', uuid, 32_720_107, good)).toBe(false);
    expect(verifyDisableSignature(secret, uuid, 32_720_107, good.slice(0, 63))).toBe(false);
    expect(verifyDisableSignature(secret, uuid, 32_720_107, 'z'.repeat(64))).toBe(false);
    // Concatenation without the separator (the prose's reading) is not what Kommo signs.
    const noPipe = createHmac('sha256', secret).update(`${uuid}32720107`).digest('hex');
    expect(verifyDisableSignature(secret, uuid, 32_720_107, noPipe)).toBe(false);
  });

  it('parses the hook’s query strictly', () => {
    expect(
      parseDisableHook({ client_uuid: uuid, account_id: '32720107', signature: 'A'.repeat(64) }),
    ).toEqual({
      ok: true,
      clientUuid: uuid,
      accountId: 32_720_107,
      signature: 'a'.repeat(64),
    });
    const bad = parseDisableHook({ client_uuid: uuid, account_id: '-1', signature: 'x' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues.map((i) => i.field)).toEqual(['account_id', 'signature']);
  });
});

describe('redirect URI query', () => {
  const base = { code: 'def502001234abcd', referer: 'Acme.kommo.com', client_id: 'abc-123' };

  it('accepts a widget install and a consent redirect', () => {
    expect(parseRedirect({ ...base, from_widget: '1' })).toEqual({
      kind: 'grant',
      code: 'def502001234abcd',
      referer: 'acme.kommo.com',
      subdomain: 'acme',
      clientId: 'abc-123',
      fromWidget: true,
    });
    expect(parseRedirect({ ...base, state: 's1' })).toMatchObject({ state: 's1', fromWidget: false });
  });

  it('recognises a decline', () => {
    expect(parseRedirect({ error: 'access_denied', client_id: 'abc-123' })).toEqual({
      kind: 'declined',
      clientId: 'abc-123',
    });
  });

  it('refuses referers that are not a Kommo account host', () => {
    for (const referer of [
      'kommo.com',
      'evil.com',
      'acme.kommo.com.evil.com',
      'a.b.kommo.com',
      'acme.kommo.com/x',
      'acme.amocrm.ru',
    ]) {
      const parsed = parseRedirect({ ...base, referer });
      expect(parsed.kind, referer).toBe('invalid');
      if (parsed.kind === 'invalid') expect(parsed.issues[0]?.field).toBe('referer');
    }
  });
});

describe('settings from Kommo', () => {
  it('reads the users field as an object or a JSON string, dropping junk', () => {
    expect(
      extensionsFromWidget({ settings: { phones: { '1': '101', '2': 102, x: '1', '3': '<b>' } } }),
    ).toEqual({
      '1': '101',
      '2': '102',
    });
    expect(extensionsFromWidget({ settings: { phones: '{"5":" 105 "}' } })).toEqual({ '5': '105' });
    expect(extensionsFromWidget({ settings: [] })).toEqual({});
    expect(extensionsFromWidget({ code: 'x' })).toEqual({});
    expect(() => extensionsFromWidget('nope')).toThrow(KommoError);
  });

  it('maps only active, non-free users', () => {
    const page = parseUsersPage({
      _embedded: {
        users: [
          { id: 1, rights: { is_active: true } },
          { id: 2, rights: { is_active: false } },
          { id: 3, rights: { is_active: true, is_free: true } },
          { id: 4 },
        ],
      },
    });
    const active = activeUserIds([page]);
    expect([...active].sort()).toEqual([1, 4]);
    expect(agentMapFromKommo({ '1': '101', '2': '102', '3': '103', '9': '109' }, active)).toEqual({
      map: { '1': '101' },
      dropped: 3,
    });
  });
});

// --- the client under a fake clock ---

const tokens: AccessTokens = {
  accessToken: async () => ({ accessToken: 'secret-access-token', baseDomain: 'acme.kommo.com' }),
  rejected: async () => {},
};

const recordingLogger = () => {
  const lines: string[] = [];
  const log = (message: string, fields?: LogFields) => lines.push(JSON.stringify({ message, ...fields }));
  const logger: Logger = { info: log, warn: log, error: log };
  return { lines, logger };
};

const reply = (status: number, body?: unknown, headers: Record<string, string> = {}) =>
  new Response(body === undefined ? null : JSON.stringify(body), { status, headers });

let clock: FakeClock | undefined;
afterEach(() => {
  clock?.uninstall();
  clock = undefined;
});
const fakeClock = () => {
  clock = install({
    now: 1_000_000,
    toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'],
  });
  return clock;
};

describe('limiter', () => {
  it('never lets more than its rate into any one-second window', async () => {
    const c = fakeClock();
    const limiter = new KommoLimiter(6, () => Date.now());
    const sent: number[] = [];
    const all = Promise.all(Array.from({ length: 25 }, () => limiter.run(async () => sent.push(Date.now()))));
    await c.tickAsync(6000);
    await all;
    expect(sent).toHaveLength(25);
    for (const at of sent) expect(sent.filter((t) => t >= at && t < at + 1000).length).toBeLessThanOrEqual(6);
    // And it is not needlessly slow: 25 requests at 6/s take about 4 s.
    expect((sent.at(-1) ?? 0) - (sent[0] ?? 0)).toBeLessThan(4500);
  });

  it('holds everything during a pause, then resumes at the rate', async () => {
    const c = fakeClock();
    const limiter = new KommoLimiter(6, () => Date.now());
    limiter.pause(Date.now() + 2000);
    const start = Date.now();
    const sent: number[] = [];
    const all = Promise.all(
      Array.from({ length: 3 }, () => limiter.run(async () => sent.push(Date.now() - start))),
    );
    await c.tickAsync(3000);
    await all;
    expect(Math.min(...sent)).toBeGreaterThanOrEqual(2000);
  });
});

describe('API client', () => {
  const make = (
    fetch: (url: string, init: RequestInit) => Promise<Response>,
    logger = recordingLogger().logger,
  ) =>
    new KommoClient({
      tokens,
      limiter: new KommoLimiter(6, () => Date.now()),
      originFor: (host) => `https://${host}`,
      logger,
      fetch,
      retry: { retries: 3, minDelayMs: 100, maxDelayMs: 1000 },
    });

  it('retries 5xx with exponential backoff and jitter, then succeeds', async () => {
    const c = fakeClock();
    const at: number[] = [];
    const client = make(async () => {
      at.push(Date.now());
      return at.length < 3 ? reply(502, { title: 'Bad Gateway', status: 502 }) : reply(200, { id: 1 });
    });
    const result = client.get(1, '/api/v4/account');
    await c.runAllAsync();
    await expect(result).resolves.toEqual({ status: 200, body: { id: 1 } });
    expect(at).toHaveLength(3);
    const [a = 0, b = 0, d = 0] = at;
    // p-retry: delay = min(max, min * factor^n * random(1..2)).
    expect(b - a).toBeGreaterThanOrEqual(100);
    expect(b - a).toBeLessThanOrEqual(200);
    expect(d - b).toBeGreaterThanOrEqual(200);
    expect(d - b).toBeLessThanOrEqual(400);
  });

  it('gives up after its retries with a typed error', async () => {
    const c = fakeClock();
    let calls = 0;
    const client = make(async () => {
      calls++;
      return reply(500, { title: 'Internal Server Error', status: 500, trace_id: 'x' });
    });
    const result = client.get(1, '/api/v4/account').catch((e: unknown) => e);
    await c.runAllAsync();
    const error = (await result) as KommoError;
    expect(error).toBeInstanceOf(KommoError);
    expect(error.code).toBe('server_error');
    expect(calls).toBe(4);
  });

  it('honours a 429’s retry_after before the next attempt', async () => {
    const c = fakeClock();
    const at: number[] = [];
    const client = make(async () => {
      at.push(Date.now());
      return at.length === 1
        ? reply(429, { title: 'Too Many Requests', status: 429, retry_after: 3 })
        : reply(200, {});
    });
    const result = client.get(1, '/api/v4/account');
    await c.runAllAsync();
    await result;
    expect((at[1] ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(3000);
  });

  it('does not retry a POST after a 5xx (Kommo does not deduplicate writes), unless told it is idempotent', async () => {
    const c = fakeClock();
    let calls = 0;
    const client = make(async () => {
      calls++;
      return reply(503, { title: 'Service Unavailable', status: 503 });
    });
    const once = client.post(1, '/api/v4/calls', [{}]).catch((e: unknown) => e);
    await c.runAllAsync();
    expect(await once).toMatchObject({ code: 'server_error' });
    expect(calls).toBe(1);
    const retried = client.post(1, '/api/v4/calls', [{}], { idempotent: true }).catch((e: unknown) => e);
    await c.runAllAsync();
    await retried;
    expect(calls).toBe(1 + 4);
  });

  it('retries a POST refused with 429: Kommo did not process it', async () => {
    const c = fakeClock();
    let calls = 0;
    const client = make(async () => {
      calls++;
      return calls === 1 ? reply(429, { status: 429, retry_after: 1 }) : reply(200, { ok: true });
    });
    const result = client.post(1, '/api/v4/tasks', [{}]);
    await c.runAllAsync();
    await expect(result).resolves.toEqual({ status: 200, body: { ok: true } });
    expect(calls).toBe(2);
  });

  it('does not retry a client error; keeps Kommo’s validation errors', async () => {
    let calls = 0;
    const client = make(async () => {
      calls++;
      return reply(
        400,
        {
          'validation-errors': [
            { request_id: '0', errors: [{ code: 'NotSupportedChoice', path: 'direction', detail: 'x' }] },
          ],
          title: 'Bad Request',
          status: 400,
          detail: 'Request validation failed',
        },
        { 'content-type': 'application/problem+json' },
      );
    });
    const error = (await client.post(1, '/api/v4/calls', [{}]).catch((e: unknown) => e)) as KommoError;
    expect(error.code).toBe('invalid_request');
    expect(error.details.validation?.[0]?.errors?.[0]?.path).toBe('direction');
    expect(calls).toBe(1);
  });

  it('turns a 204 into an empty body, not a JSON error', async () => {
    const client = make(async () => new Response(null, { status: 204 }));
    await expect(client.get(1, '/api/v4/contacts', { query: { query: '123' } })).resolves.toEqual({
      status: 204,
      body: undefined,
    });
  });

  it('times out a hung request and retries it', async () => {
    let calls = 0;
    const client = new KommoClient({
      tokens,
      limiter: new KommoLimiter(50),
      originFor: (host) => `https://${host}`,
      logger: recordingLogger().logger,
      timeoutMs: 50,
      retry: { retries: 1, minDelayMs: 1, maxDelayMs: 2 },
      fetch: (_url, init) =>
        new Promise((_resolve, reject) => {
          calls++;
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        }),
    });
    await expect(client.get(1, '/api/v4/account')).rejects.toMatchObject({ code: 'timeout' });
    expect(calls).toBe(2);
  });

  it('logs method, path and status, never the token or the query (phone numbers)', async () => {
    const { lines, logger } = recordingLogger();
    let seen: { url: string; auth: string | null } | undefined;
    const client = make(async (url, init) => {
      seen = { url, auth: new Headers(init.headers).get('authorization') };
      return reply(200, {});
    }, logger);
    await client.get(1, '/api/v4/contacts', { query: { query: '+1 555 123 4567' }, contextUserId: 7 });
    expect(seen?.auth).toBe('Bearer secret-access-token');
    expect(seen?.url).toBe('https://acme.kommo.com/api/v4/contacts?query=%2B1+555+123+4567');
    const log = lines.join('\n');
    expect(log).toContain('/api/v4/contacts');
    expect(log).toContain('"status":200');
    expect(log).not.toMatch(/secret-access-token|555|4567|query=/);
  });
});
