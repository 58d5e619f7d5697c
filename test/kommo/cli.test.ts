/**
 * `npm run accounts -- integration` sets the deployment's Kommo integration once; `add --long-lived-token`
 * registers a private integration that the backend can call Kommo with (never refreshed).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { runAccounts } from '../../scripts/accounts';
import {
  acmeAccount,
  CLIENT_ID,
  CLIENT_SECRET,
  type KommoWorld,
  startKommoWorld,
} from '../helpers/kommo-world';

let world: KommoWorld;
let localFile: string;

beforeAll(async () => {
  world = await startKommoWorld({
    accounts: [
      acmeAccount(),
      { ...acmeAccount(), id: 30_002, subdomain: 'private-acme', widgetSettings: {} },
    ],
  });
  localFile = join(mkdtempSync(join(tmpdir(), 'callbridge-kommo-cli-')), 'stack.json');
  writeFileSync(
    localFile,
    JSON.stringify({
      url: world.stack.url,
      webSocketUrl: world.stack.webSocketUrl,
      dynamoEndpoint: world.stack.dynamoEndpoint,
      tables: LOCAL_TABLES,
    }),
  );
});
afterAll(() => world.stop());

const run = async (...args: string[]) => {
  const lines: string[] = [];
  await runAccounts([...args, '--local', '--local-file', localFile], (line) => lines.push(line));
  return lines.join('\n');
};

describe('accounts integration', () => {
  it('stores the integration and prints the two URLs to enter in Kommo', async () => {
    await world.install();
    const out = await run(
      'integration',
      '--client-id',
      CLIENT_ID,
      '--client-secret',
      'a-brand-new-secret-key-0123456789',
      '--widget-code',
      'callbridge',
    );
    expect(out).toContain(
      `Redirect URI (enter exactly this in Kommo):            ${world.stack.url}/oauth/kommo`,
    );
    expect(out).toContain(`${world.stack.url}/oauth/kommo/disabled`);
    expect(out).toContain('1 installed accounts updated');
    expect(await world.stack.kommo.integrations.getIntegration()).toMatchObject({
      clientId: CLIENT_ID,
      clientSecret: 'a-brand-new-secret-key-0123456789',
      redirectUri: `${world.stack.url}/oauth/kommo`,
      widgetCode: 'callbridge',
    });
    // Installed accounts verify disposable tokens with the new secret key now.
    expect((await world.stack.accounts.getAccount('acme'))?.clientSecret).toBe(
      'a-brand-new-secret-key-0123456789',
    );
    await run(
      'integration',
      '--client-id',
      CLIENT_ID,
      '--client-secret',
      CLIENT_SECRET,
      '--widget-code',
      'callbridge',
      '--redirect-uri',
      `${world.stack.url}/oauth/kommo`,
    );
  });

  it('refuses bad values, naming the option, and stores nothing', async () => {
    const before = await world.stack.kommo.integrations.getIntegration();
    await expect(
      run('integration', '--client-id', CLIENT_ID, '--client-secret', 'short', '--widget-code', 'x'),
    ).rejects.toThrow(/--client-secret/);
    await expect(
      run('integration', '--client-id', 'bad id!', '--client-secret', CLIENT_SECRET, '--widget-code', 'x'),
    ).rejects.toThrow(/--client-id/);
    await expect(
      run('integration', '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET),
    ).rejects.toThrow(/--widget-code is required/);
    expect(await world.stack.kommo.integrations.getIntegration()).toEqual(before);
  });
});

describe('accounts add --long-lived-token', () => {
  it('registers a private integration whose settings the backend reads from Kommo, without refreshing', async () => {
    const jwt = await world.kommo.issueLongLivedToken(30_002, 365 * 86_400_000);
    const out = await run(
      'add',
      '--subdomain',
      'private-acme',
      '--integration-id',
      'private-int',
      '--client-secret',
      'private-integration-secret-0123',
      '--long-lived-token',
      jwt,
      '--widget-code',
      'callbridge',
    );
    expect(out).toContain('long-lived token stored');
    const installation = await world.stack.kommo.deps.installations.getInstallation(30_002);
    expect(installation).toMatchObject({
      subdomain: 'private-acme',
      status: 'active',
      tokens: { longLived: true, refreshToken: '' },
    });
    world.kommo.setWidgetSettings(30_002, { phones: { '202': '222' } });
    const summary = await world.stack.kommo.maintenance();
    // acme was synced at its install, minutes ago; only the new account is due.
    expect(summary.synced).toBe(1);
    expect(summary.refreshed).toBe(0);
    expect(await world.stack.state.getAgentMap('private-acme')).toEqual({ '202': '222' });
    expect(world.kommo.tokenGrants.refresh_token).toBe(0);
  });

  it('refuses a token that is not a JWT, has expired, or is for an account installed under another name', async () => {
    const acmeToken = await world.kommo.issueLongLivedToken(30_001, 86_400_000);
    await expect(
      run(
        'add',
        '--subdomain',
        'x3',
        '--integration-id',
        'i',
        '--client-secret',
        'private-integration-secret-0123',
        '--long-lived-token',
        acmeToken,
      ),
    ).rejects.toThrow(/installed already as "acme"/);
    expect(await world.stack.accounts.getAccount('x3')).toBeUndefined();
    await expect(
      run(
        'add',
        '--subdomain',
        'x1',
        '--integration-id',
        'i',
        '--client-secret',
        'private-integration-secret-0123',
        '--long-lived-token',
        'nope',
      ),
    ).rejects.toThrow(/--long-lived-token/);
    const expired = await world.kommo.issueLongLivedToken(30_001, -1000);
    await expect(
      run(
        'add',
        '--subdomain',
        'x2',
        '--integration-id',
        'i',
        '--client-secret',
        'private-integration-secret-0123',
        '--long-lived-token',
        expired,
      ),
    ).rejects.toThrow(/expired/);
    expect(await world.stack.accounts.getAccount('x1')).toBeUndefined();
    expect(await world.stack.accounts.getAccount('x2')).toBeUndefined();
  });
});

describe('accounts list and remove', () => {
  it('lists installed accounts with their Kommo id and status; remove takes the tokens with it', async () => {
    const listed = await run('list');
    expect(listed).toContain('"kommoAccountId":30002');
    expect(listed).not.toContain(CLIENT_SECRET);
    await run('remove', '--subdomain', 'private-acme');
    expect(await world.stack.accounts.getAccount('private-acme')).toBeUndefined();
    expect(await world.stack.kommo.deps.installations.getInstallation(30_002)).toBeUndefined();
  });
});
