/**
 * The Kommo emulator keeps Kommo's documented rules (kommo-server.md): a stand-in is only worth as much as
 * its strictness. OAuth lifetimes and rotation, the API shapes the next issue writes to, limits and errors.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KommoEmulator } from '../../infra/local/kommo/emulator';
import { acmeAccount, CLIENT_ID, CLIENT_SECRET, WIDGET_CODE } from '../helpers/kommo-world';

const REDIRECT = 'https://callbridge.example/oauth/kommo';
let time = 1_800_000_000_000;
/** Each request moves the clock on, so tests that are not about the rate limit stay under it. */
let step = 200;
let kommo: KommoEmulator;

beforeEach(async () => {
  time = 1_800_000_000_000;
  step = 200;
  kommo = new KommoEmulator({
    accounts: [acmeAccount()],
    integration: {
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUri: REDIRECT,
      widgetCode: WIDGET_CODE,
    },
    now: () => time,
  });
  await kommo.listen();
});
afterEach(() => kommo.close());

const tokenRequest = (body: Record<string, unknown>, form = false) => {
  time += step;
  return fetch(`${kommo.url}/oauth2/access_token`, {
    method: 'POST',
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: form
      ? new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString()
      : JSON.stringify(body),
  });
};

const grant = (extra: Record<string, unknown>) => ({
  client_id: CLIENT_ID,
  client_secret: CLIENT_SECRET,
  redirect_uri: REDIRECT,
  ...extra,
});

type Pair = { access_token: string; refresh_token: string; expires_in: number; token_type: string };

const install = async (userId?: number): Promise<Pair> => {
  const code = kommo.issueCode(30_001, userId).code;
  const res = await tokenRequest(grant({ grant_type: 'authorization_code', code }));
  expect(res.status).toBe(200);
  return (await res.json()) as Pair;
};

const refresh = (token: string) => tokenRequest(grant({ grant_type: 'refresh_token', refresh_token: token }));

const api = (token: string, path: string, init: RequestInit = {}) => {
  time += step;
  return fetch(`${kommo.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
  });
};

describe('OAuth', () => {
  it('exchanges a code once (JSON or form), with Kommo’s lifetimes', async () => {
    const code = kommo.issueCode(30_001).code;
    const res = await tokenRequest(grant({ grant_type: 'authorization_code', code }), true);
    const pair = (await res.json()) as Pair;
    expect(pair).toMatchObject({ token_type: 'Bearer', expires_in: 86_400 });
    const again = await tokenRequest(grant({ grant_type: 'authorization_code', code }));
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ hint: expect.stringMatching(/revoked/), status: 400 });
  });

  it('refuses a code older than 20 minutes, a wrong secret and a different redirect_uri', async () => {
    const old = kommo.issueCode(30_001).code;
    time += 20 * 60_000;
    expect((await tokenRequest(grant({ grant_type: 'authorization_code', code: old }))).status).toBe(400);
    const code = kommo.issueCode(30_001).code;
    expect(
      (await tokenRequest(grant({ grant_type: 'authorization_code', code, client_secret: 'nope' }))).status,
    ).toBe(401);
    const wrongRedirect = await tokenRequest(
      grant({ grant_type: 'authorization_code', code, redirect_uri: 'https://x/y' }),
    );
    expect(wrongRedirect.status).toBe(400);
    expect(wrongRedirect.headers.get('content-type')).toContain('application/problem+json');
  });

  it('access tokens die after 24 h, refresh tokens after 3 months', async () => {
    const pair = await install();
    time += 24 * 3600_000;
    expect((await api(pair.access_token, '/api/v4/account')).status).toBe(401);
    time += 89 * 86_400_000;
    const expired = await refresh(pair.refresh_token);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toMatchObject({ hint: 'Token has expired' });
  });

  it('rotation: the old refresh token works until the new one is used, then it is revoked', async () => {
    const first = await install();
    const second = (await (await refresh(first.refresh_token)).json()) as Pair;
    // The answer was "lost": the old token still works (grace)…
    const retry = await refresh(first.refresh_token);
    expect(retry.status).toBe(200);
    const third = (await retry.json()) as Pair;
    // …until one of its successors is used.
    expect((await refresh(third.refresh_token)).status).toBe(200);
    const revoked = await refresh(first.refresh_token);
    expect(revoked.status).toBe(401);
    expect(await revoked.json()).toMatchObject({
      hint: 'Token has been revoked',
      type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson',
    });
    // The sibling from the first use is gone with it.
    expect((await refresh(second.refresh_token)).status).toBe(401);
  });

  it('disabling the integration revokes every token of the account', async () => {
    const pair = await install();
    kommo.revokeAccount(30_001);
    expect((await api(pair.access_token, '/api/v4/account')).status).toBe(401);
    expect((await refresh(pair.refresh_token)).status).toBe(401);
  });

  it('the consent page redirects with code, referer, state and client_id, or error=access_denied', async () => {
    const page = await fetch(`${kommo.url}/oauth?client_id=${CLIENT_ID}&state=s-1&mode=popup`);
    expect(await page.text()).toContain('acme.kommo.com');
    const decide = (decision: string) =>
      fetch(`${kommo.url}/oauth/consent`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          client_id: CLIENT_ID,
          state: 's-1',
          account_id: '30001',
          decision,
        }).toString(),
      });
    const allowed = new URL((await decide('allow')).headers.get('location') ?? '');
    expect(`${allowed.origin}${allowed.pathname}`).toBe(REDIRECT);
    expect(Object.fromEntries(allowed.searchParams)).toEqual({
      code: expect.stringMatching(/^def50200/),
      referer: 'acme.kommo.com',
      state: 's-1',
      client_id: CLIENT_ID,
    });
    const declined = new URL((await decide('decline')).headers.get('location') ?? '');
    expect(Object.fromEntries(declined.searchParams)).toEqual({
      error: 'access_denied',
      client_id: CLIENT_ID,
      state: 's-1',
    });
  });
});

describe('API', () => {
  it('account with ?with=, users for admins only with paging, the widget’s own settings', async () => {
    const admin = (await install(201)).access_token;
    const account = (await (await api(admin, '/api/v4/account?with=amojo_id,task_types')).json()) as Record<
      string,
      unknown
    >;
    expect(account).toMatchObject({
      id: 30_001,
      subdomain: 'acme',
      current_user_id: 201,
      amojo_id: expect.any(String),
    });
    expect((account._embedded as { task_types: unknown[] }).task_types).toHaveLength(2);
    const page1 = (await (await api(admin, '/api/v4/users?limit=3')).json()) as {
      _links: { next?: unknown };
      _embedded: { users: { id: number; rights: { is_active: boolean } }[] };
    };
    expect(page1._embedded.users.map((u) => u.id)).toEqual([201, 202, 203]);
    expect(page1._links.next).toBeDefined();
    expect(page1._embedded.users[2]?.rights.is_active).toBe(false);
    expect((await api(admin, '/api/v4/users?page=3&limit=3')).status).toBe(204);
    expect((await api(admin, '/api/v4/users?limit=251')).status).toBe(422);
    const agent = (await install(202)).access_token;
    const forbidden = await api(agent, '/api/v4/users');
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({
      title: 'Forbidden',
      type: 'https://httpstatus.es/403',
      status: 403,
    });
    const widget = (await (await api(agent, `/api/v4/widgets/${WIDGET_CODE}`)).json()) as {
      settings: unknown;
    };
    expect(widget.settings).toMatchObject({ phones: { '201': '101' } });
    expect((await api(agent, '/api/v4/widgets/someone_else')).status).toBe(404);
  });

  it('contacts: query matches the last 7 digits, 204 with no body when nothing matches', async () => {
    const token = (await install()).access_token;
    const found = (await (await api(token, '/api/v4/contacts?query=%2B7%20(555)%20123-4567')).json()) as {
      _embedded: { contacts: { id: number; custom_fields_values: { field_code: string }[] }[] };
    };
    expect(found._embedded.contacts.map((c) => c.id)).toEqual([7001]);
    expect(found._embedded.contacts[0]?.custom_fields_values[0]?.field_code).toBe('PHONE');
    const none = await api(token, '/api/v4/contacts?query=5550000000');
    expect(none.status).toBe(204);
    expect(await none.text()).toBe('');
  });

  it('calls: an array; matched on the last 10 digits; unmatched not added; nulls refused', async () => {
    const token = (await install()).access_token;
    const call = {
      direction: 'inbound',
      duration: 30,
      source: 'callbridge',
      phone: '+1 555 123 4567',
      uniq: 'c1',
    };
    const notArray = await api(token, '/api/v4/calls', { method: 'POST', body: JSON.stringify(call) });
    expect(notArray.status).toBe(400);
    const mixed = await api(token, '/api/v4/calls', {
      method: 'POST',
      body: JSON.stringify([
        call,
        { ...call, phone: '+1 555 000 0000', request_id: 'x' },
        { ...call, phone: '442079460958' },
      ]),
    });
    expect(mixed.status).toBe(200);
    const body = (await mixed.json()) as {
      _total_items: number;
      errors: { request_id: string }[];
      _embedded: { calls: { entity_type: string; entity_id: number }[] };
    };
    expect(body._total_items).toBe(2);
    expect(body.errors.map((e) => e.request_id)).toEqual(['x']);
    // A contact with exactly one active lead: the call goes to the lead.
    expect(body._embedded.calls.map((c) => [c.entity_type, c.entity_id])).toEqual([
      ['contact', 7001],
      ['lead', 8001],
    ]);
    expect(kommo.written.calls).toHaveLength(2);
    const unmatched = await api(token, '/api/v4/calls', {
      method: 'POST',
      body: JSON.stringify([{ ...call, phone: '123' }]),
    });
    expect(unmatched.status).toBe(400);
    expect(await unmatched.json()).toMatchObject({
      _total_items: 0,
      errors: [{ title: 'Entity not found' }],
    });
    const withNull = await api(token, '/api/v4/calls', {
      method: 'POST',
      body: JSON.stringify([{ ...call, call_result: null }]),
    });
    expect(withNull.status).toBe(400);
    expect(await withNull.json()).toMatchObject({
      'validation-errors': [{ errors: [{ code: 'NotNullable', path: 'call_result' }] }],
    });
    expect(kommo.written.calls).toHaveLength(2);
  });

  it('unsorted sip: metadata required, no two with one source_uid', async () => {
    const token = (await install()).access_token;
    const lead = {
      source_uid: 'pbx-1',
      source_name: 'Callbridge',
      metadata: {
        from: '+15550001111',
        phone: '+15550001111',
        called_at: 1_800_000_000,
        duration: 0,
        service_code: 'callbridge',
        is_call_event_needed: true,
        uniq: 'c9',
      },
    };
    const ok = await api(token, '/api/v4/leads/unsorted/sip', {
      method: 'POST',
      body: JSON.stringify([lead]),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      _total_items: 1,
      _embedded: { unsorted: [{ uid: expect.any(String), account_id: 30_001 }] },
    });
    const dup = await api(token, '/api/v4/leads/unsorted/sip', {
      method: 'POST',
      body: JSON.stringify([lead]),
    });
    expect(dup.status).toBe(400);
    const noMeta = await api(token, '/api/v4/leads/unsorted/sip', {
      method: 'POST',
      body: JSON.stringify([{ source_uid: 'pbx-2', source_name: 'Callbridge' }]),
    });
    expect(noMeta.status).toBe(400);
    expect(kommo.written.unsorted).toHaveLength(1);
  });

  it('tasks: text and complete_till required, the responsible user must exist; X-Context-User-ID recorded', async () => {
    const admin = (await install(201)).access_token;
    const task = {
      text: 'Call back',
      complete_till: 1_800_000_900,
      task_type_id: 1,
      entity_type: 'contacts',
      entity_id: 7001,
    };
    const ok = await api(admin, '/api/v4/tasks', {
      method: 'POST',
      headers: { 'x-context-user-id': '202' },
      body: JSON.stringify([{ ...task, responsible_user_id: 202 }]),
    });
    expect(ok.status).toBe(200);
    expect(kommo.written.tasks[0]).toMatchObject({ contextUserId: 202, userId: 202 });
    for (const bad of [
      { ...task, text: '' },
      { ...task, complete_till: 'soon' },
      { ...task, responsible_user_id: 999 },
      { ...task, entity_type: 'contact' },
    ]) {
      expect(
        (await api(admin, '/api/v4/tasks', { method: 'POST', body: JSON.stringify([bad]) })).status,
      ).toBe(400);
    }
    // A free or unknown user cannot be the context user.
    expect(
      (
        await api(admin, '/api/v4/tasks', {
          method: 'POST',
          headers: { 'x-context-user-id': '204' },
          body: JSON.stringify([task]),
        })
      ).status,
    ).toBe(403);
    expect(kommo.written.tasks).toHaveLength(1);
  });

  it('events: phone_call → 202 for users of the account', async () => {
    const token = (await install()).access_token;
    const ok = await api(token, '/api/v2/events', {
      method: 'POST',
      body: JSON.stringify({
        add: [{ type: 'phone_call', phone_number: '+15551234567', users: [201, '202'] }],
      }),
    });
    expect(ok.status).toBe(202);
    const bad = await api(token, '/api/v2/events', {
      method: 'POST',
      body: JSON.stringify({ add: [{ type: 'sms', phone_number: '1' }] }),
    });
    expect(bad.status).toBe(400);
    expect(kommo.written.events).toHaveLength(1);
  });
});

describe('limits', () => {
  it('7 a second; the 8th gets 429 with retry_after; pressing on inside it earns a 403 for everything', async () => {
    const token = (await install()).access_token;
    kommo.resetRateLimit();
    step = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await api(token, '/api/v4/account')).status);
    expect(statuses).toEqual(Array(7).fill(200));
    const limited = await api(token, '/api/v4/account');
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({
      status: 429,
      retry_after: 300,
      type: 'https://httpstatus.es/429',
    });
    // Three requests inside the 300 s wait are "repeated excess": the third is blocked, and so is all after.
    time += 1000;
    expect((await api(token, '/api/v4/account')).status).toBe(429);
    expect((await api(token, '/api/v4/account')).status).toBe(429);
    expect((await api(token, '/api/v4/account')).status).toBe(403);
    expect(kommo.blocked).toBe(true);
    time += 301_000;
    expect((await api(token, '/api/v4/account')).status).toBe(403);
    time += 15 * 60_000;
    expect((await api(token, '/api/v4/account')).status).toBe(200);
  });

  it('waiting out retry_after is not excess', async () => {
    const token = (await install()).access_token;
    kommo.resetRateLimit();
    step = 0;
    for (let i = 0; i < 8; i++) await api(token, '/api/v4/account');
    time += 300_000;
    expect((await api(token, '/api/v4/account')).status).toBe(200);
    expect(kommo.blocked).toBe(false);
  });
});
