/**
 * Installing from Kommo, end to end against the emulator: widget install → code → tokens → account with its
 * own webhook secret → settings from Kommo → disable hook → 410s and closed sockets → re-install → purge.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { signWebhook } from '../../lambdas/core/webhook-signature';
import { disableSignature } from '../../lambdas/kommo/disable-signature';
import { CLIENT_ID, CLIENT_SECRET, type KommoWorld, startKommoWorld } from '../helpers/kommo-world';
import { callEvent, TestSocket } from '../helpers/stack';

let world: KommoWorld;
beforeAll(async () => {
  world = await startKommoWorld();
});
afterAll(() => world.stop());

const api = (path: string, init: RequestInit = {}) => fetch(`${world.stack.url}${path}`, init);

const sendWebhook = async (secret: string, subdomain = 'acme') => {
  const body = JSON.stringify(callEvent('call.ringing', { users: [202] }));
  const headers = signWebhook(secret, `msg_${Math.random()}`, Math.floor(Date.now() / 1000), body);
  return api(`/webhooks/${subdomain}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
};

/** Every item of every table: "nothing changed" compares two of these. */
const snapshot = async () => {
  const out: string[] = [];
  for (const table of Object.values(LOCAL_TABLES)) {
    const { Items = [] } = await world.stack.dynamo.send(new ScanCommand({ TableName: table }));
    out.push(...Items.map((i) => `${table}|${JSON.stringify(i)}`));
  }
  return out.sort();
};

const disableUrl = (params: Record<string, string>) =>
  `/oauth/kommo/disabled?${new URLSearchParams(params).toString()}`;

describe('install from Kommo', () => {
  let webhookSecret = '';

  it('a widget install provisions the account, its tokens and its extensions from Kommo', async () => {
    const started = Date.now();
    const { hook, outcomes } = await world.install();
    // Kommo's webhook got its answer inside its 3 s (the exchange runs after the answer).
    expect(hook.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(outcomes).toEqual([
      expect.objectContaining({
        status: 'installed',
        accountId: 30_001,
        subdomain: 'acme',
        created: true,
        agents: 2,
      }),
    ]);
    expect(world.kommo.tokenGrants.authorization_code).toBe(1);

    const account = await world.stack.accounts.getAccount('acme');
    expect(account).toMatchObject({ kommoAccountId: 30_001, status: 'active', integrationId: CLIENT_ID });
    expect(account?.clientSecret).toBe(CLIENT_SECRET);
    webhookSecret = account?.webhookSecrets[0]?.secret ?? '';
    expect(webhookSecret).toMatch(/^whsec_/);

    const installation = await world.stack.kommo.deps.installations.getInstallation(30_001);
    expect(installation?.status).toBe('active');
    expect(installation?.tokens?.accessToken).toMatch(/^kat_/);
    expect(installation?.tokens?.expiresAt).toBeGreaterThan(Date.now() + 23 * 3600_000);

    // Inactive (203), free (204) and unknown (999) users do not get calls.
    expect(await world.stack.state.getAgentMap('acme')).toEqual({ '201': '101', '202': '102' });
  });

  it('a repeated redirect with the same code stores nothing new and exchanges nothing', async () => {
    const code = [...world.kommo.codes.values()][0]?.code ?? '';
    const before = await snapshot();
    const res = await api(
      `/oauth/kommo?code=${code}&referer=acme.kommo.com&client_id=${CLIENT_ID}&from_widget=1`,
    );
    expect(res.status).toBe(200);
    await world.stack.kommo.idle();
    expect(world.kommo.tokenGrants.authorization_code).toBe(1);
    expect(await snapshot()).toEqual(before);
  });

  it('bad redirects are refused with the field at fault and store nothing', async () => {
    const before = await snapshot();
    for (const [query, field] of [
      [`code=def50200abcdefgh&referer=evil.example.com&client_id=${CLIENT_ID}`, 'referer'],
      [`code=def50200abcdefgh&referer=acme.kommo.com.evil.io&client_id=${CLIENT_ID}`, 'referer'],
      [`referer=acme.kommo.com&client_id=${CLIENT_ID}`, 'code'],
      ['code=def50200abcdefgh&referer=acme.kommo.com&client_id=someone-else', 'client_id'],
      ['error=maybe', 'error'],
    ] as const) {
      const res = await api(`/oauth/kommo?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(((await res.json()) as { detail: string }).detail).toContain(field);
    }
    const declined = await api(`/oauth/kommo?error=access_denied&client_id=${CLIENT_ID}&state=x`);
    expect(declined.status).toBe(200);
    expect(await declined.text()).toContain('not installed');
    expect(await snapshot()).toEqual(before);
  });

  it('the account takes signed webhooks with its own secret', async () => {
    expect((await sendWebhook(webhookSecret)).status).toBe(202);
  });

  it('admins see the webhook URL and secret on request and can rotate it; agents cannot', async () => {
    const agent = await api('/settings/webhook', {
      headers: { 'x-auth-token': await world.widgetToken(202) },
    });
    expect(agent.status).toBe(403);
    const admin = await world.widgetToken(201, true);
    const shown = (await (
      await api('/settings/webhook', { headers: { 'x-auth-token': admin } })
    ).json()) as Record<string, unknown>;
    expect(shown.url).toBe(`${world.stack.url}/webhooks/acme`);
    expect(shown.secret).toBeUndefined();
    expect(shown.secretHint).toBe(`${webhookSecret.slice(0, 10)}…`);
    const revealed = (await (
      await api('/settings/webhook?reveal=1', { headers: { 'x-auth-token': admin } })
    ).json()) as Record<string, unknown>;
    expect(revealed.secret).toBe(webhookSecret);
    const rotated = (await (
      await api('/settings/webhook', { method: 'POST', headers: { 'x-auth-token': admin } })
    ).json()) as { secret: string; previous: unknown[] };
    expect(rotated.secret).not.toBe(webhookSecret);
    expect(rotated.previous).toHaveLength(1);
    // The old secret keeps working through the grace period, the new one at once.
    expect((await sendWebhook(webhookSecret)).status).toBe(202);
    expect((await sendWebhook(rotated.secret)).status).toBe(202);
    webhookSecret = rotated.secret;
  });

  it('an admin save re-reads Kommo and ignores the browser body', async () => {
    world.kommo.setWidgetSettings(30_001, { phones: JSON.stringify({ '201': '201', '202': '' }) });
    const res = await api('/agents', {
      method: 'PUT',
      headers: { 'x-auth-token': await world.widgetToken(201, true), 'content-type': 'application/json' },
      body: JSON.stringify({ agents: { '202': '666', '999': '1' } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agents: { '201': '201' }, source: 'kommo' });
    expect(await world.stack.state.getAgentMap('acme')).toEqual({ '201': '201' });
    const agent = await api('/agents', {
      method: 'PUT',
      headers: { 'x-auth-token': await world.widgetToken(202), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(agent.status).toBe(403);
  });

  it('a disable hook with a bad signature changes nothing', async () => {
    const before = await snapshot();
    const good = disableSignature(CLIENT_SECRET, CLIENT_ID, 30_001);
    for (const params of [
      {
        client_uuid: CLIENT_ID,
        account_id: '30001',
        signature: disableSignature('wrong-secret-wrong-secret', CLIENT_ID, 30_001),
      },
      { client_uuid: CLIENT_ID, account_id: '30002', signature: good },
      { client_uuid: 'another-integration', account_id: '30001', signature: good },
    ]) {
      const res = await api(disableUrl(params));
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe('bad_signature');
    }
    const malformed = await api(disableUrl({ client_uuid: CLIENT_ID, account_id: 'x', signature: good }));
    expect(malformed.status).toBe(400);
    expect(await snapshot()).toEqual(before);
  });

  it('disabling in Kommo deletes the tokens, closes sockets and answers webhooks 410', async () => {
    const ticket = await api('/tickets', {
      method: 'POST',
      headers: { 'x-auth-token': await world.widgetToken(202) },
    });
    const { url } = (await ticket.json()) as { url: string };
    const socket = await TestSocket.open(url);

    expect(await world.kommo.disableIntegration(30_001)).toBe(200);
    const installation = await world.stack.kommo.deps.installations.getInstallation(30_001);
    expect(installation).toMatchObject({ status: 'disabled' });
    expect(installation?.tokens).toBeUndefined();
    expect(installation?.purgeAfter).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(await world.stack.accounts.getAccount('acme')).toMatchObject({ status: 'disabled' });

    await expect.poll(() => socket.closed?.code).toBeDefined();
    const webhook = await sendWebhook(webhookSecret);
    expect(webhook.status).toBe(410);
    expect(webhook.headers.get('content-type')).toContain('application/problem+json');
    expect(((await webhook.json()) as { code: string }).code).toBe('account_disabled');
    const refused = await api('/tickets', {
      method: 'POST',
      headers: { 'x-auth-token': await world.widgetToken(202) },
    });
    expect(refused.status).toBe(410);
    // Kept for re-installation: the account and its extensions are still there.
    expect(await world.stack.state.getAgentMap('acme')).toEqual({ '201': '201' });
  });

  it('re-installing within 30 days brings the account back with the same webhook secret', async () => {
    const { outcomes } = await world.install();
    expect(outcomes).toEqual([expect.objectContaining({ status: 'installed', created: false })]);
    const account = await world.stack.accounts.getAccount('acme');
    expect(account?.status).toBe('active');
    expect(account?.webhookSecrets[0]?.secret).toBe(webhookSecret);
    expect((await sendWebhook(webhookSecret)).status).toBe(202);
    expect((await world.stack.kommo.deps.installations.getInstallation(30_001))?.tokens).toBeDefined();
  });

  it('removes a disabled account 30 days later, and not before', async () => {
    await world.kommo.disableIntegration(30_001);
    world.time.offsetMs = 29 * 86_400_000;
    expect((await world.stack.kommo.maintenance()).purged).toBe(0);
    expect(await world.stack.accounts.getAccount('acme')).toBeDefined();
    world.time.offsetMs = 31 * 86_400_000;
    expect((await world.stack.kommo.maintenance()).purged).toBe(1);
    expect(await world.stack.accounts.getAccount('acme')).toBeUndefined();
    expect(await world.stack.kommo.deps.installations.getInstallation(30_001)).toBeUndefined();
    expect(await world.stack.state.getAgentMap('acme')).toEqual({});
    world.time.offsetMs = 0;
  });
});
