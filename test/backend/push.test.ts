/**
 * Fan-out faults, through the real ApiGatewayManagementApiClient and the local @connections API:
 * a gone socket is forgotten, throttling is retried, a hung socket cannot stall the call.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiGatewayPusher } from '../../lambdas/adapters/apigw-pusher';
import { PushFailedError } from '../../lambdas/ports';
import { callEvent, sleep, startTestStack, type TestStack } from '../helpers/stack';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack({ pushTimeoutMs: 500 });
});
afterEach(() => {
  t.stack.gateway.fault = () => undefined;
});
afterAll(() => t.stop());

const latestConnectionId = () => t.stack.gateway.connectionIds().at(-1) ?? '';

describe('push adapter', () => {
  const client = () =>
    new ApiGatewayManagementApiClient({
      endpoint: t.stack.gateway.managementEndpoint,
      region: 'local',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      maxAttempts: 3,
    });

  it('reports a GoneException as "gone"', async () => {
    expect(await new ApiGatewayPusher(client(), 1000).send('no-such-connection', '{}')).toBe('gone');
  });

  it('retries throttling and then delivers', async () => {
    const socket = await t.connect(7);
    await sleep(20);
    const id = latestConnectionId();
    let throttles = 2;
    t.stack.gateway.fault = (cid) => (cid === id && throttles-- > 0 ? 'throttle' : undefined);
    expect(await new ApiGatewayPusher(client(), 5000).send(id, '{"v":1,"type":"pong"}')).toBe('sent');
    expect(throttles).toBe(-1);
    await socket.next('pong');
    socket.close();
  });

  it('gives up on a hung request at the timeout with a PushFailedError', async () => {
    t.stack.gateway.fault = () => 'hang';
    const started = Date.now();
    await expect(new ApiGatewayPusher(client(), 300).send('any', '{}')).rejects.toBeInstanceOf(
      PushFailedError,
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('fan-out', () => {
  it('deletes a gone connection and still delivers to the others', async () => {
    // One after the other, so each connection id is known to belong to its socket.
    const a = await t.connect(7);
    const idA = latestConnectionId();
    const b = await t.connect(7);
    // A connection that has been around a while (younger ones may still be mid-$connect, see below).
    const stored = await t.stack.state.getConnection(idA);
    if (!stored) throw new Error('connection not stored');
    await t.stack.state.saveConnection({ ...stored, connectedAt: Date.now() - 60_000 });
    t.stack.gateway.fault = (cid) => (cid === idA ? 'gone' : undefined);
    const res = await t.webhook(callEvent('call.ringing', { users: [7] }));
    expect(res.body).toMatchObject({ sockets: 1 });
    await b.next('call');
    expect(await t.stack.state.getConnection(String(idA))).toBeUndefined();
    a.close();
    b.close();
  });

  it('keeps the record of a connection that is gone only because its $connect has not finished', async () => {
    // API Gateway answers 410 before a connection is established; its record already exists by then.
    const a = await t.connect(9);
    const idA = latestConnectionId();
    t.stack.gateway.fault = (cid) => (cid === idA ? 'gone' : undefined);
    const res = await t.webhook(callEvent('call.ringing', { users: [9] }));
    expect(res.body).toMatchObject({ sockets: 0 });
    expect(await t.stack.state.getConnection(idA)).toBeDefined();
    t.stack.gateway.fault = () => undefined;
    // The missed push reaches it by its resume, as the call's current state.
    a.send({ action: 'resume', after: 0 });
    const snapshot = await a.next('snapshot');
    expect(snapshot.calls.map((c) => c.state)).toEqual(['ringing']);
    a.close();
  });

  it('does not let one hung socket hold up the call', async () => {
    const a = await t.connect(8);
    const idA = latestConnectionId();
    const b = await t.connect(8);
    t.stack.gateway.fault = (cid) => (cid === idA ? 'hang' : undefined);
    const started = Date.now();
    const res = await t.webhook(callEvent('call.ringing', { users: [8] }));
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ sockets: 1 });
    expect(Date.now() - started).toBeLessThan(3000);
    await b.next('call');
    a.close();
    b.close();
  });
});
