import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES, type LocalStack, startLocalStack } from '../../infra/local/stack';
import { runAccounts } from '../../scripts/accounts';
import { twilio } from './fixtures/twilio';
import { telnyxKeys, twilioSign } from './signers';

let stack: LocalStack;
let localFile: string;

beforeAll(async () => {
  stack = await startLocalStack({ accountCacheMs: 0 });
  localFile = join(mkdtempSync(join(tmpdir(), 'callbridge-connect-')), 'stack.json');
  writeFileSync(
    localFile,
    JSON.stringify({
      url: stack.url,
      webSocketUrl: stack.webSocketUrl,
      dynamoEndpoint: stack.dynamoEndpoint,
      tables: LOCAL_TABLES,
    }),
  );
  await run(
    'add',
    '--subdomain',
    'hooli',
    '--integration-id',
    'int-h',
    '--client-secret',
    'hooli-secret-key-0123456789',
  );
});
afterAll(() => stack.stop());

const run = async (...args: string[]) => {
  const lines: string[] = [];
  await runAccounts([...args, '--local', '--local-file', localFile], (line) => lines.push(line));
  return lines.join('\n');
};

const TOKEN = '0123456789abcdef0123456789abcdef';

const ringTwilio = async (url: string) => {
  const body = twilio.ringing(`CA${Date.now().toString(16).padEnd(32, '0')}`);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...twilioSign(TOKEN, url, body) },
    body,
  });
  return res.status;
};

describe('npm run accounts -- connect <provider>', () => {
  let url = '';

  it('stores the credentials under the provider’s own flag names and prints the URL to paste', async () => {
    const out = await run('connect', 'twilio', '--subdomain', 'hooli', '--auth-token', TOKEN);
    url = /paste this URL into twilio: (\S+)/.exec(out)?.[1] ?? '';
    expect(url).toBe(`${stack.url}/webhooks/hooli/twilio`);
    expect(await ringTwilio(url)).toBe(200);
    const { publicKey } = telnyxKeys();
    expect(await run('connect', 'telnyx', '--subdomain', 'hooli', '--public-key', publicKey)).toContain(
      `${stack.url}/webhooks/hooli/telnyx`,
    );
    await run(
      'connect',
      'zadarma',
      '--subdomain',
      'hooli',
      '--api-key',
      'a248a6a984459935b569',
      '--api-secret',
      '8a8e91d214fb728889c7',
    );
    expect((await stack.accounts.getAccount('hooli'))?.providers).toMatchObject({
      twilio: { authToken: TOKEN },
      telnyx: { publicKey },
      zadarma: { apiKey: 'a248a6a984459935b569', apiSecret: '8a8e91d214fb728889c7' },
    });
  });

  it('says which flag is missing or malformed, and which providers exist, before touching anything', async () => {
    const before = await stack.accounts.getAccount('hooli');
    await expect(run('connect', 'vonage', '--subdomain', 'hooli')).rejects.toThrow(
      /--signature-secret is required/,
    );
    await expect(run('connect', 'telnyx', '--subdomain', 'hooli', '--public-key', 'abc')).rejects.toThrow(
      /--public-key: expected the base64 Ed25519 public key/,
    );
    await expect(run('connect', 'twilio', '--subdomain', 'hooli', '--auth-token', 'short')).rejects.toThrow(
      /--auth-token: expected 32 hex characters/,
    );
    await expect(run('connect', 'skype', '--subdomain', 'hooli')).rejects.toThrow(
      /expected a provider, one of twilio, telnyx, vonage, plivo, zadarma/,
    );
    await expect(
      run('connect', 'plivo', '--subdomain', 'nobody', '--auth-token', 'A'.repeat(40)),
    ).rejects.toThrow(/no account "nobody"/);
    expect(await stack.accounts.getAccount('hooli')).toEqual(before);
  });

  it('lists which providers are connected, never their secrets', async () => {
    const out = await run('list');
    expect(out).toContain('"providers":["telnyx","twilio","zadarma"]');
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain('8a8e91d214fb728889c7');
  });

  it('disconnects a provider: its webhooks are then refused', async () => {
    expect(await run('disconnect', 'twilio', '--subdomain', 'hooli')).toContain('disconnected twilio');
    expect(await ringTwilio(url)).toBe(404);
  });
});
