import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../helpers/stack';

let t: TestStack;
beforeAll(async () => {
  t = await startTestStack();
});
afterAll(() => t.stop());

const put = async (body: unknown, isAdmin: boolean, contentType = 'application/json') =>
  fetch(`${t.stack.url}/agents`, {
    method: 'PUT',
    headers: { 'x-auth-token': await t.token(1, { isAdmin }), 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('/agents', () => {
  it('lets an admin replace the map, and any agent of the account read it', async () => {
    const res = await put({ agents: { '7': '101', '8': ' 102 ', '9': '' } }, true);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agents: { '7': '101', '8': '102' } });
    const get = await fetch(`${t.stack.url}/agents`, { headers: { 'x-auth-token': await t.token(8) } });
    expect(await get.json()).toEqual({ agents: { '7': '101', '8': '102' } });
  });

  it.each([
    ['a non-admin', { agents: { '7': '999' } }, false, 403, 'forbidden'],
    ['a bad extension', { agents: { '7': '<b>' } }, true, 400, 'agents.7'],
    ['a bad user id', { agents: { abc: '101' } }, true, 400, 'agents'],
    ['a missing agents field', { users: {} }, true, 400, 'agents'],
    ['malformed JSON', '{', true, 400, 'malformed_json'],
  ])('refuses %s and changes nothing', async (_label, body, isAdmin, status, mentions) => {
    const before = await t.items();
    const res = await put(body, isAdmin);
    expect(res.status).toBe(status);
    expect(await res.text()).toContain(mentions);
    expect(await t.items()).toEqual(before);
  });

  it('refuses another account’s token for this account’s map', async () => {
    await put({ agents: { '7': '101' } }, true);
    const theirs = await fetch(`${t.stack.url}/agents`, {
      headers: { 'x-auth-token': await t.token(1, { account: t.globex }) },
    });
    expect(await theirs.json()).toEqual({ agents: {} });
  });

  it('forgets extensions that went away: a webhook to one no longer reaches its old holder', async () => {
    expect((await put({ agents: { '7': '101', '8': '102', '9': '102' } }, true)).status).toBe(200);
    expect((await put({ agents: { '7': '103', '9': '102' } }, true)).status).toBe(200);
    const event = (id: string, extensions: string[]) => ({
      version: 1 as const,
      type: 'call.ringing' as const,
      call: { id, direction: 'inbound' as const, from: '+15551234567', to: '+15557654321' },
      agents: { extensions },
      occurredAt: new Date().toISOString(),
    });
    const gone = await t.webhook(event('agents-gone', ['101']));
    expect(gone.body).toMatchObject({ users: 0, unmatchedExtensions: ['101'] });
    const moved = await t.webhook(event('agents-moved', ['102', '103']));
    expect(moved.body).toMatchObject({ users: 2 });
    expect(moved.body.unmatchedExtensions).toBeUndefined();
    // The only extension items left are the map's.
    const extensions = (await t.items()).filter((item) => item.split('|')[1]?.startsWith('X#'));
    expect(extensions.map((item) => item.split('|')[1]).sort()).toEqual(['X#102', 'X#103']);
    const get = await fetch(`${t.stack.url}/agents`, { headers: { 'x-auth-token': await t.token(7) } });
    expect(await get.json()).toEqual({ agents: { '7': '103', '9': '102' } });
  });
});
