/**
 * The finding this front exposed: routing used to read an account's sockets from the byAccount GSI, which on
 * AWS lags the table, so a call arriving just after a socket connected was not pushed to it. Sockets now live
 * under their user's key and routing reads them with a strongly consistent BatchGet: under index lag (and
 * whatever the front's lag), a socket is routable as soon as it is saved. On the old design this test fails.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTables } from '../../infra/local/tables';
import { DynamoStateStore } from '../../lambdas/adapters/dynamo-state';
import { type FrontHarness, startFront } from './harness';

const LAG = 200;
let h: FrontHarness;
let store: DynamoStateStore;

beforeAll(async () => {
  h = await startFront({ indexLagMs: LAG });
  await createTables(h.raw, { state: 'state', accounts: 'accounts' });
  store = new DynamoStateStore(h.raw, { tableName: 'state' });
});
afterAll(() => h.stop());

it('connectionsOf finds a socket the moment it is saved, however far the index lags', async () => {
  const now = Date.now();
  await store.saveConnection({
    connectionId: 'conn-1',
    subdomain: 'acme',
    userId: 7,
    connectedAt: now,
    expiresAt: now + 60_000,
  });
  expect(await store.getConnection('conn-1')).toMatchObject({ userId: 7 });
  expect((await store.connectionsOf('acme', [7], Date.now())).map((c) => c.connectionId)).toEqual(['conn-1']);
  expect(await store.connectedUsers('acme')).toEqual([7]);
  await store.removeConnection('conn-1');
  expect(await store.connectionsOf('acme', [7], Date.now())).toEqual([]);
});

it('through the test stack on the front: a socket that just connected is routable at once', async () => {
  const { startTestStack } = await import('../helpers/stack');
  const t = await startTestStack({ indexLagMs: LAG });
  try {
    expect(t.stack.front).toBeDefined();
    const socket = await t.connect(41);
    expect((await t.stack.state.connectionsOf('acme', [41], Date.now())).map((c) => c.userId)).toEqual([41]);
    socket.close();
  } finally {
    await t.stop();
  }
});
