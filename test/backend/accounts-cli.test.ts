import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_TABLES, type LocalStack, startLocalStack } from '../../infra/local/stack';
import { signWebhook } from '../../lambdas/core/webhook-signature';
import { runAccounts } from '../../scripts/accounts';
import { callEvent } from '../helpers/stack';

let stack: LocalStack;
let localFile: string;
const dir = mkdtempSync(join(tmpdir(), 'callbridge-cli-'));

beforeAll(async () => {
  stack = await startLocalStack({ accountCacheMs: 0 });
  localFile = join(dir, 'stack.json');
  writeFileSync(
    localFile,
    JSON.stringify({
      url: stack.url,
      webSocketUrl: stack.webSocketUrl,
      dynamoEndpoint: stack.dynamoEndpoint,
      tables: LOCAL_TABLES,
    }),
  );
});
afterAll(() => stack.stop());

const run = async (...args: string[]) => {
  const lines: string[] = [];
  await runAccounts([...args, '--local', '--local-file', localFile], (line) => lines.push(line));
  return lines.join('\n');
};

const send = async (secret: string) => {
  const body = JSON.stringify(callEvent('call.ringing', { users: [] }));
  const res = await fetch(`${stack.url}/webhooks/initech`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...signWebhook(secret, `m${Math.random()}`.replace('.', ''), Math.floor(Date.now() / 1000), body),
    },
    body,
  });
  return res.status;
};

describe('npm run accounts', () => {
  let first = '';

  it('adds an account and prints its webhook URL and secret once', async () => {
    const out = await run(
      'add',
      '--subdomain',
      'Initech',
      '--integration-id',
      'int-1',
      '--client-secret',
      'initech-secret-key-0123456789',
    );
    expect(out).toContain(`webhook URL:    ${stack.url}/webhooks/initech`);
    first = /webhook secret: (whsec_\S+)/.exec(out)?.[1] ?? '';
    expect(first).toMatch(/^whsec_/);
    expect(await send(first)).toBe(202);
  });

  it('refuses a second account with the same subdomain, and bad input', async () => {
    await expect(
      run('add', '--subdomain', 'initech', '--integration-id', 'x', '--client-secret', 'y'.repeat(20)),
    ).rejects.toThrow(/exists already/);
    await expect(
      run('add', '--subdomain', 'bad domain', '--integration-id', 'x', '--client-secret', 'y'.repeat(20)),
    ).rejects.toThrow(/subdomain/);
    await expect(run('add', '--subdomain', 'ok')).rejects.toThrow(/--integration-id is required/);
  });

  it('lists accounts without revealing secrets', async () => {
    const out = await run('list');
    expect(out).toContain('"subdomain":"initech"');
    expect(out).not.toContain(first);
    expect(out).not.toContain('initech-secret-key');
  });

  it('rotates the webhook secret, keeping the old one for the grace period', async () => {
    const out = await run('rotate-webhook-secret', '--subdomain', 'initech', '--grace-hours', '1');
    const fresh = /new webhook secret for initech: (whsec_\S+)/.exec(out)?.[1] ?? '';
    expect(fresh).not.toBe(first);
    expect(await send(fresh)).toBe(202);
    expect(await send(first)).toBe(202);
    await run('rotate-webhook-secret', '--subdomain', 'initech', '--grace-hours', '0');
    expect(await send(fresh)).toBe(401);
  });

  it('removes an account; its webhooks then get 404', async () => {
    expect(await run('remove', '--subdomain', 'initech')).toContain('removed initech');
    expect(await send(first)).toBe(404);
    await expect(run('remove', '--subdomain', 'initech')).rejects.toThrow(/no account/);
  });

  it('reads the deployed stack from the outputs file and says what is missing', () => {
    const outputs = join(dir, 'outputs.json');
    writeFileSync(outputs, JSON.stringify({ Callbridge: { HttpApiUrl: 'https://x' } }));
    expect(() =>
      execFileSync(
        process.execPath,
        ['--import', 'tsx', 'scripts/accounts.ts', 'list', '--outputs', outputs],
        { stdio: 'pipe' },
      ),
    ).toThrow(/missing output\(s\) AccountsTableName, Region/);
  });
});
