/**
 * An agent of account A never receives, replays or learns of account B's calls, whatever ticket, token, seq
 * or message it sends.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintKommoToken } from '../../infra/local/kommo-token';
import {
  CLIENT_SECRET,
  callEvent,
  OTHER_SECRET,
  sleep,
  startTestStack,
  type TestSocket,
  type TestStack,
} from '../helpers/stack';

let t: TestStack;
let a: TestSocket;
beforeAll(async () => {
  t = await startTestStack();
  await t.stack.state.putAgentMap('acme', { '7': '101' }, 1, Date.now());
  await t.stack.state.putAgentMap('globex', { '7': '101', '8': '102' }, 1, Date.now());
  a = await t.connect(7);
  // B's traffic: a call to the same user id and extension, a ring-all, and a few more.
  await t.webhook(callEvent('call.ringing', { users: [7] }), {
    subdomain: 'globex',
    secret: t.globex.webhookSecrets[0]?.secret,
  });
  await t.webhook(callEvent('call.ringing', { extensions: ['101'] }), {
    subdomain: 'globex',
    secret: t.globex.webhookSecrets[0]?.secret,
  });
  await t.webhook(callEvent('call.ringing', { everyone: true }), {
    subdomain: 'globex',
    secret: t.globex.webhookSecrets[0]?.secret,
  });
  await sleep(150);
});
afterAll(async () => {
  a.close();
  await t.stop();
});

const globexCalls = (socket: TestSocket) => socket.messages.filter((m) => m.type === 'call');

describe('account isolation', () => {
  it('does not push B’s calls to A’s agent with the same user id or extension, nor on a ring-all', () => {
    expect(globexCalls(a)).toHaveLength(0);
  });

  it.each([0, 1, 2, 10, 1_000_000, Number.MAX_SAFE_INTEGER])(
    'replays none of B’s calls on resume after %s',
    async (after) => {
      a.send({ action: 'resume', after });
      const snapshot = await a.next('snapshot', (m) => m.seq >= 0);
      expect(snapshot.calls).toEqual([]);
      expect(globexCalls(a)).toHaveLength(0);
      a.messages.length = 0;
    },
  );

  it('learns nothing of B’s volume from its seq numbers', async () => {
    await t.webhook(callEvent('call.ringing', { users: [7] }));
    const first = (await a.next('call')).seq;
    for (let i = 0; i < 5; i++) {
      await t.webhook(callEvent('call.ringing', { users: [7] }), {
        subdomain: 'globex',
        secret: t.globex.webhookSecrets[0]?.secret,
      });
    }
    a.messages.length = 0;
    await t.webhook(callEvent('call.ringing', { users: [7] }));
    expect((await a.next('call')).seq).toBe(first + 1);
  });

  it('cannot get a ticket for B with A’s secret, nor for A with B’s', async () => {
    const forB = await mintKommoToken({
      subdomain: 'globex',
      clientSecret: CLIENT_SECRET,
      integrationId: 'int-globex',
      userId: 7,
    });
    expect((await t.post('/tickets', { headers: { 'x-auth-token': forB } })).status).toBe(401);
    const forA = await mintKommoToken({
      subdomain: 'acme',
      clientSecret: OTHER_SECRET,
      integrationId: 'int-acme',
      userId: 7,
    });
    expect((await t.post('/tickets', { headers: { 'x-auth-token': forA } })).status).toBe(401);
    // A token whose iss is A but whose claims try to name B.
    const mixed = await new SignJWT({ user_id: 7, subdomain: 'globex', account_id: 2 })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://acme.kommo.com')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(CLIENT_SECRET));
    expect((await t.post('/tickets', { headers: { 'x-auth-token': mixed } })).status).toBe(401);
  });

  it('reads only its own extension map', async () => {
    const res = await fetch(`${t.stack.url}/agents`, { headers: { 'x-auth-token': await t.token(7) } });
    expect(await res.json()).toEqual({ agents: { '7': '101' } });
  });

  it('cannot post into B’s account with A’s webhook secret, or the reverse', async () => {
    expect((await t.webhook(callEvent('call.ringing', { users: [7] }), { subdomain: 'globex' })).status).toBe(
      401,
    );
    expect(
      (
        await t.webhook(callEvent('call.ringing', { users: [7] }), {
          secret: t.globex.webhookSecrets[0]?.secret,
        })
      ).status,
    ).toBe(401);
  });

  it('sees B’s agents receive B’s calls (the isolation is not a dead pipe)', async () => {
    const b = await t.connect(7, t.globex);
    await t.webhook(callEvent('call.ringing', { users: [7] }), {
      subdomain: 'globex',
      secret: t.globex.webhookSecrets[0]?.secret,
    });
    await b.next('call');
    b.close();
  });
});
