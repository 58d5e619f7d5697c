import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalStack } from '../../infra/local/stack';
import { runCall } from '../../scripts/call';
import { sleep, startTestStack } from '../helpers/stack';

const root = process.cwd();
const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0)) child.kill('SIGTERM');
});

/** `npm start` as a user runs it, in its own working directory (so its .local/ is private to the test). */
const start = (cwd: string, args: string[] = [], env: Record<string, string> = {}) =>
  new Promise<{ output: string; url: string; child: ChildProcess }>((resolve, reject) => {
    // tsx as a loader in one process (its CLI would run the stack in a grandchild that signals could miss).
    const loader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', loader, join(root, 'infra/local/main.ts'), ...args], {
      cwd,
      env: { ...process.env, PORT: '0', ...env },
    });
    running.push(child);
    let output = '';
    const timer = setTimeout(
      () => reject(new Error(`npm start printed no curl within 30 s:\n${output}`)),
      30_000,
    );
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      if (output.includes("--data '")) {
        clearTimeout(timer);
        resolve({ output, url: /local stack on (http:\/\/\S+)/.exec(output)?.[1] ?? '', child });
      }
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.on('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
  });

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

/** Runs the printed curl command's request with fetch. */
const pasteCurl = async (output: string) => {
  const url = /curl -i (\S+)/.exec(output)?.[1] ?? '';
  const headers = Object.fromEntries([...output.matchAll(/-H '([^:]+): ([^']+)'/g)].map((m) => [m[1], m[2]]));
  const body = /--data '(.+)'/.exec(output)?.[1] ?? '';
  return fetch(url, { method: 'POST', headers, body });
};

describe('npm start', () => {
  it('prints every URL and secret and a signed curl that works, and keeps data across a restart', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'callbridge-start-'));
    const first = await start(cwd);
    for (const label of [
      'Demo page',
      'Webhook URL',
      'WebSocket URL',
      'Integration secret',
      'Webhook secret',
    ]) {
      expect(first.output).toContain(label);
    }
    const page = await fetch(`${first.url}/`);
    expect(await page.text()).toContain('Kommo-like shell');
    expect((await pasteCurl(first.output)).status).toBe(202);
    const secret = /Webhook secret\s+(whsec_\S+)/.exec(first.output)?.[1];

    const lines: string[] = [];
    const result = await runCall(
      ['ringing', '--ext', '101', '--local-file', join(cwd, '.local/stack.json')],
      (l) => lines.push(l),
    );
    expect(result.status).toBe(202);
    expect(lines.join('\n')).toContain('ringing call cli-');

    await stop(first.child);
    const second = await start(cwd);
    expect(/Webhook secret\s+(whsec_\S+)/.exec(second.output)?.[1]).toBe(secret);
    await stop(second.child);
    const fresh = await start(cwd, ['--fresh']);
    expect(/Webhook secret\s+(whsec_\S+)/.exec(fresh.output)?.[1]).not.toBe(secret);
  }, 120_000);

  it('uses the secrets given in the environment and refuses bad ones, naming them', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'callbridge-start-'));
    const given = 'whsec_Z2l2ZW4tc2VjcmV0LWZvci10ZXN0cw==';
    const run = await start(cwd, [], { WEBHOOK_SECRET: given, KOMMO_SUBDOMAIN: 'initech' });
    expect(run.output).toContain(`Webhook secret       ${given}`);
    expect(run.output).toContain('/webhooks/initech');
    await stop(run.child);
    await expect(start(cwd, [], { WEBHOOK_SECRET: 'nope' })).rejects.toThrow(
      /WEBHOOK_SECRET: expected whsec_/,
    );
  }, 60_000);
});

describe('local API Gateway', () => {
  it('closes idle sockets and sockets past the maximum duration, as API Gateway does', async () => {
    const t = await startTestStack({ idleTimeoutMs: 300, maxConnectionMs: 60_000 });
    const idle = await t.connect(7);
    await sleep(500);
    expect(idle.closed?.code).toBe(1001);
    await t.stop();

    const u = await startTestStack({ idleTimeoutMs: 60_000, maxConnectionMs: 400 });
    const busy = await u.connect(7);
    for (let i = 0; i < 6; i++) {
      busy.send({ action: 'ping' });
      await sleep(100);
    }
    expect(busy.closed?.code).toBe(1001);
    expect(busy.count('pong')).toBeGreaterThan(0);
    await u.stop();
  });

  it('answers the management API like AWS: GET, DELETE, then 410 GoneException', async () => {
    const t = await startTestStack();
    const socket = await t.connect(7);
    await sleep(30);
    const id = t.stack.gateway.connectionIds()[0] ?? '';
    const endpoint = `${t.stack.gateway.managementEndpoint}/@connections/${encodeURIComponent(id)}`;
    const info = (await (await fetch(endpoint)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      ConnectedAt: expect.any(String),
      Identity: { SourceIp: expect.any(String) },
    });
    expect((await fetch(endpoint, { method: 'DELETE' })).status).toBe(204);
    await sleep(50);
    expect(socket.closed).toBeDefined();
    const gone = await fetch(endpoint, { method: 'POST', body: '{}' });
    expect(gone.status).toBe(410);
    expect(gone.headers.get('x-amzn-errortype')).toBe('GoneException');
    await t.stop();
  });

  it('allows CORS from local origins for the demo page', async () => {
    const t = await startTestStack();
    const res = await fetch(`${t.stack.url}/tickets`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
    await t.stop();
  });

  it('keeps DynamoDB data on disk across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callbridge-dynamo-'));
    const a = await startLocalStack({ dataDir: dir });
    await a.state.putAgentMap('acme', { '7': '101' }, 1, Date.now());
    await a.stop();
    const b = await startLocalStack({ dataDir: dir });
    expect(await b.state.getAgentMap('acme')).toEqual({ '7': '101' });
    await b.stop();
  });
});
