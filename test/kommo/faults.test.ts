/**
 * Kommo misbehaving, against the emulator: a failing, slow or revoking token endpoint, refreshes racing,
 * and 429 storms. Each test would fail if the claim it names were false.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { DynamoInstallationStore } from '../../lambdas/adapters/dynamo-installations';
import { KommoClient } from '../../lambdas/kommo/client';
import { KommoError } from '../../lambdas/kommo/errors';
import { KommoLimiter } from '../../lambdas/kommo/limiter';
import { httpTokenEndpoint } from '../../lambdas/kommo/token-endpoint';
import { TokenService } from '../../lambdas/kommo/tokens';
import { silentLogger } from '../../lambdas/logger';
import { type KommoWorld, startKommoWorld } from '../helpers/kommo-world';

let world: KommoWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

const start = async (options?: Parameters<typeof startKommoWorld>[0]) => {
  world = await startKommoWorld(options);
  return world;
};

/** Make the stored access token look expired, so the next use must refresh. */
const expireAccessToken = async (w: KommoWorld) => {
  const installations = w.stack.kommo.deps.installations;
  const current = await installations.getInstallation(30_001);
  if (!current?.tokens) throw new Error('not installed');
  await installations.saveInstallation({
    ...current,
    tokens: { ...current.tokens, expiresAt: Date.now() - 1 },
  });
  return current.tokens;
};

describe('token endpoint faults', () => {
  it('a 500 from the token endpoint is retried with backoff and the install completes', async () => {
    const w = await start();
    w.kommo.faults.tokenErrors = 2;
    const { outcomes } = await w.install();
    expect(outcomes).toEqual([expect.objectContaining({ status: 'installed' })]);
    expect(w.kommo.faults.tokenErrors).toBe(0);
  });

  it('a token endpoint down for longer leaves the code stored; the hourly sweep installs it', async () => {
    const w = await start();
    w.kommo.faults.tokenErrors = 100;
    const { hook, outcomes } = await w.install();
    expect(hook.status).toBe(200);
    expect(outcomes).toEqual([expect.objectContaining({ status: 'failed', final: false })]);
    expect(await w.stack.accounts.getAccount('acme')).toBeUndefined();
    w.kommo.faults.tokenErrors = 0;
    // The sweep leaves codes younger than 30 s to the exchange that is probably running.
    expect((await w.stack.kommo.maintenance()).codes).toBe(0);
    w.time.offsetMs = 60_000;
    expect((await w.stack.kommo.maintenance()).codes).toBe(1);
    expect(await w.stack.accounts.getAccount('acme')).toMatchObject({ kommoAccountId: 30_001 });
  });

  it('a code past its 20 minutes is not exchanged', async () => {
    const w = await start();
    w.kommo.faults.tokenErrors = 100;
    await w.install();
    w.kommo.faults.tokenErrors = 0;
    w.time.offsetMs = 21 * 60_000;
    const summary = await w.stack.kommo.maintenance();
    expect(summary.failures).toBe(1);
    expect(w.kommo.tokenGrants.authorization_code).toBe(0);
  });

  it('a slow token endpoint does not hold Kommo’s install webhook: it is answered at once', async () => {
    const w = await start();
    w.kommo.faults.tokenDelay = { ms: 3500, times: 1 };
    const started = Date.now();
    const hook = await w.kommo.installWidget(30_001);
    expect(hook.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    const outcomes = await w.stack.kommo.idle();
    expect(outcomes).toEqual([expect.objectContaining({ status: 'installed' })]);
  });

  it('a refresh whose answer is lost is retried with the same refresh token (Kommo’s grace)', async () => {
    const w = await start();
    await w.install();
    const old = await expireAccessToken(w);
    w.kommo.faults.tokenLostResponses = 1;
    const token = await w.stack.kommo.deps.tokens.accessToken(30_001);
    expect(token.accessToken).not.toBe(old.accessToken);
    // Two grants happened at Kommo: the lost one and the retry, both with the old refresh token.
    expect(w.kommo.tokenGrants.refresh_token).toBe(2);
    const stored = await w.stack.kommo.deps.installations.getInstallation(30_001);
    expect(stored?.tokens?.accessToken).toBe(token.accessToken);
    // The stored refresh token works; using it revokes the old one and the lost sibling.
    await expireAccessToken(w);
    await w.stack.kommo.deps.tokens.accessToken(30_001);
    expect(w.kommo.refresh.get(old.refreshToken)?.revoked).toBe(true);
    expect((await w.stack.kommo.deps.client.get(30_001, '/api/v4/account')).status).toBe(200);
  });

  it('revoked access marks the account "needs re-authorization", and only admins are told, once per ticket', async () => {
    const w = await start();
    await w.install();
    w.kommo.revokeAccount(30_001);
    const call = w.stack.kommo.deps.client.get(30_001, '/api/v4/account');
    await expect(call).rejects.toMatchObject({ name: 'KommoError', code: 'revoked' });
    expect((await w.stack.kommo.deps.installations.getInstallation(30_001))?.status).toBe('needs_reauth');
    expect(await w.stack.accounts.getAccount('acme')).toMatchObject({ status: 'needs_reauth' });
    await expect(w.stack.kommo.deps.client.get(30_001, '/api/v4/account')).rejects.toMatchObject({
      code: 'not_installed',
    });

    const ticket = async (userId: number, admin: boolean) =>
      (await (
        await fetch(`${w.stack.url}/tickets`, {
          method: 'POST',
          headers: { 'x-auth-token': await w.widgetToken(userId, admin) },
        })
      ).json()) as { notice?: { code: string; message: string } };
    expect((await ticket(201, true)).notice).toMatchObject({ code: 'needs_reauthorization' });
    expect((await ticket(202, false)).notice).toBeUndefined();

    // The admin's save cannot read Kommo now, and says what to do.
    const save = await fetch(`${w.stack.url}/agents`, {
      method: 'PUT',
      headers: { 'x-auth-token': await w.widgetToken(201, true), 'content-type': 'application/json' },
      body: '{"agents":{}}',
    });
    expect(save.status).toBe(409);
    expect(((await save.json()) as { detail: string }).detail).toContain('install the integration again');

    // Installing again clears it.
    await w.install();
    expect(await w.stack.accounts.getAccount('acme')).toMatchObject({ status: 'active' });
    expect((await ticket(201, true)).notice).toBeUndefined();
  });

  it('a refresh token unused for 3 months is dead: the scheduled job flags the account', async () => {
    const w = await start();
    await w.install();
    w.time.offsetMs = 91 * 86_400_000;
    const summary = await w.stack.kommo.maintenance();
    expect(summary.needsReauth).toBe(1);
    expect(await w.stack.accounts.getAccount('acme')).toMatchObject({ status: 'needs_reauth' });
    expect(w.kommo.tokenGrants.refresh_token).toBe(0);
  });

  it('the scheduled job re-reads settings every 6 hours, not every hour (Kommo restricts repeated reads)', async () => {
    const w = await start();
    await w.install();
    w.kommo.setWidgetSettings(30_001, { phones: { '202': '777' } });
    w.time.offsetMs = 3600_000;
    expect((await w.stack.kommo.maintenance()).synced).toBe(0);
    expect(await w.stack.state.getAgentMap('acme')).toEqual({ '201': '101', '202': '102' });
    w.time.offsetMs = 6 * 3600_000;
    expect((await w.stack.kommo.maintenance()).synced).toBe(1);
    expect(await w.stack.state.getAgentMap('acme')).toEqual({ '202': '777' });
  });

  it('the scheduled job refreshes before the 24 h expiry, so requests never refresh inline', async () => {
    const w = await start();
    await w.install();
    w.time.offsetMs = 22 * 3600_000;
    expect((await w.stack.kommo.maintenance()).refreshed).toBe(1);
    expect(w.kommo.tokenGrants.refresh_token).toBe(1);
    w.time.offsetMs = 23.9 * 3600_000;
    await w.stack.kommo.deps.client.get(30_001, '/api/v4/account');
    expect(w.kommo.tokenGrants.refresh_token).toBe(1);
  });
});

describe('subdomain changes', () => {
  it('a re-install after Kommo renamed the account moves it, webhook secret and all, to the new name', async () => {
    const w = await start();
    await w.install();
    const before = await w.stack.accounts.getAccount('acme');
    w.kommo.account(30_001).subdomain = 'acme-renamed';
    const { outcomes } = await w.install();
    expect(outcomes).toEqual([expect.objectContaining({ status: 'installed', subdomain: 'acme-renamed' })]);
    expect(await w.stack.accounts.getAccount('acme')).toBeUndefined();
    const moved = await w.stack.accounts.getAccount('acme-renamed');
    expect(moved).toMatchObject({ kommoAccountId: 30_001, status: 'active' });
    expect(moved?.webhookSecrets).toEqual(before?.webhookSecrets);
    expect((await w.stack.kommo.deps.installations.getInstallation(30_001))?.subdomain).toBe('acme-renamed');
    expect(await w.stack.state.getAgentMap('acme-renamed')).toEqual({ '201': '101', '202': '102' });
    expect(await w.stack.state.getAgentMap('acme')).toEqual({});
  });
});

describe('two refreshes racing', () => {
  it('functions sharing the store spend the refresh token once and all get the new access token', async () => {
    const w = await start();
    await w.install();
    const old = await expireAccessToken(w);
    // Four "containers": separate token services (own owner ids) over the same table.
    const services = Array.from(
      { length: 4 },
      () =>
        new TokenService({
          installations: new DynamoInstallationStore(w.stack.dynamo, LOCAL_TABLES.kommo),
          integration: w.stack.kommo.deps.integration,
          endpoint: httpTokenEndpoint(),
          originFor: () => w.kommo.url,
          onNeedsReauth: async () => {},
          now: () => Date.now(),
          logger: silentLogger,
          pollMs: 10,
        }),
    );
    w.kommo.faults.tokenDelay = { ms: 200, times: 1 };
    const tokens = await Promise.all(services.flatMap((s) => [s.accessToken(30_001), s.accessToken(30_001)]));
    expect(w.kommo.tokenGrants.refresh_token).toBe(1);
    expect(new Set(tokens.map((t) => t.accessToken)).size).toBe(1);
    expect(tokens[0]?.accessToken).not.toBe(old.accessToken);
    const stored = await w.stack.kommo.deps.installations.getInstallation(30_001);
    expect(stored?.tokens?.accessToken).toBe(tokens[0]?.accessToken);
  });

  it('a 401 on a request refreshes the token once and retries with the new one', async () => {
    const w = await start();
    await w.install();
    // Kommo forgets the access token (as if it were revoked alone): the request refreshes and succeeds.
    const installation = await w.stack.kommo.deps.installations.getInstallation(30_001);
    const access = w.kommo.access.get(installation?.tokens?.accessToken ?? '');
    if (access) access.revoked = true;
    const res = await w.stack.kommo.deps.client.get(30_001, '/api/v4/account');
    expect(res.status).toBe(200);
    expect(w.kommo.tokenGrants.refresh_token).toBe(1);
  });
});

describe('429 storms', () => {
  const client = (w: KommoWorld, limiter = new KommoLimiter()) =>
    new KommoClient({
      tokens: w.stack.kommo.deps.tokens,
      limiter,
      originFor: () => w.kommo.url,
      logger: silentLogger,
      retry: { retries: 4, minDelayMs: 20, maxDelayMs: 200 },
    });

  it('30 concurrent requests never cross 7/s: no 429 at all', async () => {
    const w = await start();
    await w.install();
    w.kommo.resetRateLimit();
    const before = w.kommo.requests.length;
    const shared = client(w);
    await Promise.all(Array.from({ length: 30 }, () => shared.get(30_001, '/api/v4/account')));
    const sent = w.kommo.requests.slice(before);
    expect(sent.filter((r) => r.status === 429)).toEqual([]);
    expect(w.kommo.blocked).toBe(false);
  }, 20_000);

  it('a storm of 429s is waited out (retry_after honoured): every request succeeds, never blocked', async () => {
    const w = await start();
    await w.install();
    w.kommo.resetRateLimit();
    w.kommo.faults.api429 = { times: 3, retryAfterSeconds: 1 };
    const shared = client(w);
    const results = await Promise.all(
      Array.from({ length: 12 }, () => shared.get(30_001, '/api/v4/account')),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(w.kommo.faults.api429.times).toBe(0);
    expect(w.kommo.blocked).toBe(false);
    expect(w.kommo.requests.some((r) => r.status === 403)).toBe(false);
  }, 20_000);

  it('a 429 asking for minutes fails fast with rate_limited and sends nothing more until then', async () => {
    const w = await start();
    await w.install();
    w.kommo.resetRateLimit();
    w.kommo.faults.api429 = { times: 1, retryAfterSeconds: 300 };
    const shared = client(w);
    await expect(shared.get(30_001, '/api/v4/account')).rejects.toMatchObject({
      code: 'rate_limited',
      details: { retryAfterSeconds: 300 },
    });
    const before = w.kommo.requests.length;
    const again = await shared.get(30_001, '/api/v4/account').catch((e: unknown) => e);
    expect(again).toBeInstanceOf(KommoError);
    expect(w.kommo.requests.length).toBe(before);
    expect(w.kommo.blocked).toBe(false);
  });

  it('the emulator’s block is real: a client without the limiter reaches the 403', async () => {
    const w = await start();
    await w.install();
    w.kommo.resetRateLimit();
    const token = (await w.stack.kommo.deps.installations.getInstallation(30_001))?.tokens?.accessToken;
    const statuses = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(`${w.kommo.url}/api/v4/account`, {
          headers: { authorization: `Bearer ${token}` },
        });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses).toContain(429);
    expect(statuses).toContain(403);
    expect(w.kommo.blocked).toBe(true);
  });
});
