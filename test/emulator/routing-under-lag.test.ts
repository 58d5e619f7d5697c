/**
 * FINDING (fails on main by design): the webhook routes a call by reading the account's sockets from the
 * byAccount GSI (DynamoStateStore.connectionsOf). On AWS that index lags the table, so a socket that has just
 * connected is invisible to routing for a moment and a call arriving then is not pushed to it. This test
 * pins the EMULATOR's behaviour that exposes it: the index read misses the just-saved connection within the
 * lag and sees it after. It is not a test of the app; the data model change that makes lag harmless is the
 * lead's (issue 10).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTables } from '../../infra/local/tables';
import { DynamoStateStore } from '../../lambdas/adapters/dynamo-state';
import { type FrontHarness, sleep, startFront } from './harness';

const LAG = 200;
let h: FrontHarness;
let store: DynamoStateStore;

beforeAll(async () => {
  h = await startFront({ indexLagMs: LAG });
  await createTables(h.raw, { state: 'state', accounts: 'accounts' });
  store = new DynamoStateStore(h.raw, { tableName: 'state', eventRetentionSeconds: 3600 });
});
afterAll(() => h.stop());

it('connectionsOf misses a socket saved within the index lag, and finds it after', async () => {
  const now = Date.now();
  await store.saveConnection({
    connectionId: 'conn-1',
    subdomain: 'acme',
    userId: 7,
    connectedAt: now,
    expiresAt: now + 60_000,
  });
  // The table has it at once (the socket's own lookups work)...
  expect(await store.getConnection('conn-1')).toMatchObject({ userId: 7 });
  // ...but routing, which reads the index, does not see it yet: a call now would miss this agent.
  expect(await store.connectionsOf('acme', [7], Date.now())).toEqual([]);
  expect(await store.connectionsOf('acme', 'everyone', Date.now())).toEqual([]);
  await sleep(LAG);
  await h.front.settle();
  expect((await store.connectionsOf('acme', [7], Date.now())).map((c) => c.connectionId)).toEqual(['conn-1']);
});

it('the test stack runs on the front when given indexLagMs: a socket that just connected is not routable yet', async () => {
  const { startTestStack } = await import('../helpers/stack');
  const t = await startTestStack({ indexLagMs: LAG });
  try {
    expect(t.stack.front).toBeDefined();
    const socket = await t.connect(41);
    expect(await t.stack.state.connectionsOf('acme', [41], Date.now())).toEqual([]);
    await sleep(LAG);
    await t.stack.front?.settle();
    expect((await t.stack.state.connectionsOf('acme', [41], Date.now())).map((c) => c.userId)).toEqual([41]);
    socket.close();
  } finally {
    await t.stop();
  }
});
