import { describe, expect, it } from 'vitest';
import { cachedAccountLookup } from '../../lambdas/adapters/dynamo-accounts';
import type { Account } from '../../lambdas/ports';

const account = { subdomain: 'acme' } as Account;

const setup = (maxAgeMs?: number) => {
  let now = 0;
  let stored: Account | undefined;
  let reads = 0;
  const lookup = cachedAccountLookup(
    {
      getAccount: async () => {
        reads++;
        return stored;
      },
    },
    { now: () => now },
    maxAgeMs,
  );
  return {
    lookup,
    reads: () => reads,
    add: () => {
      stored = account;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
};

describe('account cache', () => {
  it('keeps an account at most 5 minutes, so a rotated secret takes effect without a redeploy', async () => {
    const c = setup(60 * 60_000);
    c.add();
    await c.lookup('acme');
    c.advance(5 * 60_000 - 1);
    await c.lookup('acme');
    expect(c.reads()).toBe(1);
    c.advance(1);
    await c.lookup('acme');
    expect(c.reads()).toBe(2);
  });

  it('remembers a miss for at most 10 s', async () => {
    const c = setup();
    expect(await c.lookup('acme')).toBeUndefined();
    c.add();
    c.advance(9_999);
    expect(await c.lookup('acme')).toBeUndefined();
    c.advance(1);
    expect(await c.lookup('acme')).toBe(account);
  });

  it('caches nothing when the maximum age is 0, misses included', async () => {
    const c = setup(0);
    expect(await c.lookup('acme')).toBeUndefined();
    c.add();
    expect(await c.lookup('acme')).toBe(account);
    await c.lookup('acme');
    expect(c.reads()).toBe(3);
  });
});
