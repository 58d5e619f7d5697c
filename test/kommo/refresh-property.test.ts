/**
 * "One writer at a time" as a property: any number of functions refreshing one account, started at any
 * moments, against a token endpoint of any speed (even slower than the lease) or one that loses answers,
 * always leave a stored refresh token that Kommo still accepts, and every caller gets a working token.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { DynamoInstallationStore } from '../../lambdas/adapters/dynamo-installations';
import { httpTokenEndpoint } from '../../lambdas/kommo/token-endpoint';
import { TokenService } from '../../lambdas/kommo/tokens';
import type { TokenSet } from '../../lambdas/kommo/tokens-policy';
import { silentLogger } from '../../lambdas/logger';
import { type KommoWorld, startKommoWorld } from '../helpers/kommo-world';

let world: KommoWorld;
beforeAll(async () => {
  world = await startKommoWorld({ rateLimit: { perSecond: 10_000 } });
  await world.install();
});
afterAll(() => world.stop());

/** A writer that stalls between Kommo's answer and its write (a GC pause, a throttled DynamoDB). */
let stalls: number[] = [0];
let stallIndex = 0;
const stall = () => new Promise((resolve) => setTimeout(resolve, stalls[stallIndex++ % stalls.length]));
class StallingStore extends DynamoInstallationStore {
  override async completeRefresh(accountId: number, used: string, tokens: TokenSet, nowMs: number) {
    await stall();
    return super.completeRefresh(accountId, used, tokens, nowMs);
  }
}

/** The same store without its lease: every writer refreshes, the last write wins. */
class NoLeaseStore extends DynamoInstallationStore {
  override async leaseRefresh(): Promise<boolean> {
    return true;
  }
  override async completeRefresh(accountId: number, _owner: string, tokens: TokenSet): Promise<boolean> {
    await stall();
    const current = await this.getInstallation(accountId);
    if (current) await this.saveInstallation({ ...current, tokens });
    return true;
  }
}

const service = (leaseMs: number, lease = true) =>
  new TokenService({
    installations: lease
      ? new StallingStore(world.stack.dynamo, LOCAL_TABLES.kommo)
      : new NoLeaseStore(world.stack.dynamo, LOCAL_TABLES.kommo),
    integration: world.stack.kommo.deps.integration,
    endpoint: httpTokenEndpoint({ retry: { retries: 3, minDelayMs: 5, maxDelayMs: 20 } }),
    originFor: () => world.kommo.url,
    onNeedsReauth: async () => {},
    now: () => Date.now(),
    logger: silentLogger,
    leaseMs,
    pollMs: 5,
  });

/** Make the stored access token expired without touching anything else of the item (the lease included). */
const expire = (accountId: number) =>
  world.stack.dynamo.send(
    new UpdateItemCommand({
      TableName: LOCAL_TABLES.kommo,
      Key: { pk: { S: `INSTALL#${accountId}` } },
      UpdateExpression: 'SET tokens.expiresAt = :past',
      ExpressionAttributeValues: { ':past': { N: String(Date.now() - 1) } },
    }),
  );

const tokenCall = (refreshToken: string) =>
  fetch(`${world.kommo.url}/oauth2/access_token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_id: world.kommo.integration.clientId,
      client_secret: world.kommo.integration.clientSecret,
      redirect_uri: world.kommo.integration.redirectUri,
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
    }),
  });

/**
 * Two waves of callers: the second wave expires the token again as soon as the first caller has its answer,
 * while slower writers of the first wave are still talking to Kommo. A stale writer that stores late (or
 * takes a "revoked" for a revocation) is what one writer at a time must prevent.
 */
const property = (lease: boolean) =>
  fc.asyncProperty(
    fc.integer({ min: 2, max: 4 }),
    fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 2, maxLength: 6 }),
    fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 4 }),
    fc.integer({ min: 0, max: 150 }),
    fc.boolean(),
    fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 8 }),
    async (containers, firstWave, secondWave, tokenDelayMs, loseOne, writerStalls) => {
      stalls = writerStalls;
      stallIndex = 0;
      const installations = world.stack.kommo.deps.installations;
      const start = await installations.getInstallation(30_001);
      if (!start?.tokens) throw new Error('not installed');
      await expire(30_001);
      world.kommo.faults.tokenDelay = { ms: tokenDelayMs, times: 2 };
      world.kommo.faults.tokenLostResponses = loseOne ? 1 : 0;
      // A lease shorter than a slow answer: a second writer may take over, and must not break anything.
      const services = Array.from({ length: containers }, () => service(60, lease));
      const call = (delay: number, i: number) =>
        new Promise((resolve) => setTimeout(resolve, delay)).then(() =>
          (services[i % containers] as TokenService).accessToken(30_001).catch((e: unknown) => e),
        );
      const first = firstWave.map(call);
      await Promise.race(first);
      await expire(30_001);
      const second = secondWave.map((d, i) => call(d, i + 1));
      const results = await Promise.all([...first, ...second]);

      const stored = await installations.getInstallation(30_001);
      // Nobody mistook a lost race for a revocation, and what is stored still works at Kommo.
      expect(stored?.status).toBe('active');
      expect(world.kommo.refresh.get(stored?.tokens?.refreshToken ?? '')?.revoked).toBe(false);
      for (const result of results) {
        expect(result).toMatchObject({ accessToken: expect.any(String) });
        const res = await fetch(`${world.kommo.url}/api/v4/account`, {
          headers: { authorization: `Bearer ${(result as { accessToken: string }).accessToken}` },
        });
        expect(res.status).toBe(200);
      }
      const next = await tokenCall(stored?.tokens?.refreshToken ?? '');
      expect(next.status).toBe(200);
      // Store the pair Kommo just issued, fresh, as the next run's starting point.
      const pair = (await next.json()) as { access_token: string; refresh_token: string };
      await installations.saveInstallation({
        ...start,
        status: 'active',
        tokens: {
          accessToken: pair.access_token,
          refreshToken: pair.refresh_token,
          expiresAt: Date.now() + 86_400_000,
          refreshIssuedAt: Date.now(),
        },
      });
      world.kommo.faults.tokenDelay = { ms: 0, times: 0 };
      world.kommo.faults.tokenLostResponses = 0;
    },
  );

it('the stored refresh token always stays usable, and every caller gets a token Kommo accepts', async () => {
  await fc.assert(property(true), { numRuns: 25 });
}, 120_000);

it('without the lease the property fails (the check is live)', async () => {
  const reset = async () => {
    // A failing run leaves a revoked token (or a flagged account) behind: start each run from a fresh install.
    world.kommo.faults = { ...world.kommo.faults, tokenDelay: { ms: 0, times: 0 }, tokenLostResponses: 0 };
    await world.install();
  };
  await expect(
    // The race needs the right timings; on a loaded machine it took more than 25 runs to show once (CI), and
    // the first failure ends the search.
    fc.assert(property(false).beforeEach(reset), { numRuns: 150, endOnFailure: true }),
  ).rejects.toThrow();
  await reset();
}, 300_000);
