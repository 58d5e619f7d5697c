/**
 * Configuration read once at start: every problem named at once, secrets never echoed; the real entry point
 * refuses to start on a bad environment and serves its health report on a good one.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { BridgeConfigError, readConfig } from '../../bridge/asterisk/config';
import { ScriptedAmi } from './ami-server';
import { AMI_SECRET, AMI_USER, dataDir, removeDataDirs, waitUntil } from './harness';

const MAIN = join(import.meta.dirname, '../../bridge/asterisk/main.ts');

const problemsOf = (env: Record<string, string>) => {
  try {
    readConfig(env);
  } catch (error) {
    if (error instanceof BridgeConfigError) return error.problems;
    throw error;
  }
  return [];
};

afterAll(() => removeDataDirs());

describe('bridge configuration', () => {
  it('names every missing variable', () => {
    expect(problemsOf({})).toEqual([
      'AMI_HOST is missing',
      'AMI_USERNAME is missing',
      'AMI_SECRET is missing',
      'CALLBRIDGE_WEBHOOK_URL is missing',
      'CALLBRIDGE_WEBHOOK_SECRET is missing',
      'BRIDGE_DATA_DIR is missing',
    ]);
  });

  it('says what is wrong with a value, without repeating a secret', () => {
    const problems = problemsOf({
      AMI_HOST: 'pbx',
      AMI_PORT: '70000',
      AMI_USERNAME: 'u',
      AMI_SECRET: 's',
      CALLBRIDGE_WEBHOOK_URL: 'https://api.example.com/hooks',
      CALLBRIDGE_WEBHOOK_SECRET: 'hunter2-not-a-whsec',
      BRIDGE_DATA_DIR: '/var/lib/x',
      BRIDGE_EXTENSION_PATTERN: '([',
      BRIDGE_RETRY_BASE_MS: 'soon',
    });
    expect(problems).toEqual([
      'AMI_PORT: expected a whole number from 1 to 65535, got "70000"',
      'CALLBRIDGE_WEBHOOK_URL: expected a path ending in /webhooks/{subdomain}',
      'CALLBRIDGE_WEBHOOK_SECRET: expected a Standard Webhooks secret "whsec_…" (base64)',
      'BRIDGE_EXTENSION_PATTERN: expected a regular expression, got "(["',
      'BRIDGE_RETRY_BASE_MS: expected a whole number from 1 to 600000, got "soon"',
    ]);
    expect(problems.join()).not.toContain('hunter2');
  });

  it('serves health only when asked, and then on loopback unless told otherwise: the bridge opens no public port', () => {
    const base = {
      AMI_HOST: 'pbx',
      AMI_USERNAME: 'u',
      AMI_SECRET: 's',
      CALLBRIDGE_WEBHOOK_URL: 'https://api.example.com/prod/webhooks/acme',
      CALLBRIDGE_WEBHOOK_SECRET: 'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0',
      BRIDGE_DATA_DIR: '/var/lib/x',
    };
    expect(readConfig(base).health).toBeUndefined();
    expect(readConfig({ ...base, BRIDGE_HEALTH_PORT: '8080' }).health).toEqual({
      host: '127.0.0.1',
      port: 8080,
    });
    expect(
      readConfig({ ...base, BRIDGE_HEALTH_PORT: '8080', BRIDGE_HEALTH_HOST: '0.0.0.0' }).health?.host,
    ).toBe('0.0.0.0');
  });

  it('the entry point exits 2 naming the problem, before connecting anywhere', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { PATH: process.env.PATH ?? '', AMI_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += String(d);
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('AMI_USERNAME is missing');
    expect(stderr).toContain('CALLBRIDGE_WEBHOOK_SECRET is missing');
  });

  it('the entry point serves GET /health: AMI connected, outbox depth, last success', async () => {
    const ami = new ScriptedAmi({ username: AMI_USER, secret: AMI_SECRET });
    await ami.start();
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        AMI_HOST: '127.0.0.1',
        AMI_PORT: String(ami.port),
        AMI_USERNAME: AMI_USER,
        AMI_SECRET: AMI_SECRET,
        CALLBRIDGE_WEBHOOK_URL: 'http://127.0.0.1:1/webhooks/acme',
        CALLBRIDGE_WEBHOOK_SECRET: 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3',
        BRIDGE_DATA_DIR: dataDir(),
        BRIDGE_HEALTH_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    try {
      await waitUntil(() => /health endpoint listening/.test(stdout), 15_000, 'health endpoint');
      const url = /"url":"([^"]+)"/.exec(stdout)?.[1] ?? '';
      await ami.waitForLogin(1, 10_000);
      let body: Record<string, unknown> = {};
      await waitUntil(() => /AMI connected/.test(stdout), 5000, 'AMI connected');
      const res = await fetch(url);
      body = (await res.json()) as Record<string, unknown>;
      expect(res.status).toBe(200);
      expect(body).toMatchObject({
        status: 'ok',
        ami: { connected: true },
        outbox: { depth: 0, deadLetters: 0 },
        delivery: { delivered: 0 },
      });
      // Logs are JSON lines without the AMI secret.
      expect(stdout).not.toContain(AMI_SECRET);
      await ami.stop();
      await waitUntil(() => /AMI disconnected/.test(stdout), 5000, 'disconnect noticed');
      const down = await fetch(url);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { problems: string[] }).problems[0]).toMatch(/^AMI not connected/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await ami.stop();
    }
  }, 30_000);

  it('the single-file build (what systemd and the container run) starts and logs in to AMI', async () => {
    const outfile = join(dataDir(), 'asterisk-bridge.mjs');
    // The same options as `npm run build:bridge-asterisk`.
    await build({
      entryPoints: [MAIN],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outfile,
      logLevel: 'silent',
      banner: {
        js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
    const ami = new ScriptedAmi({ username: AMI_USER, secret: AMI_SECRET });
    await ami.start();
    const child = spawn(process.execPath, [outfile], {
      cwd: dataDir(),
      env: {
        PATH: process.env.PATH ?? '',
        AMI_HOST: '127.0.0.1',
        AMI_PORT: String(ami.port),
        AMI_USERNAME: AMI_USER,
        AMI_SECRET: AMI_SECRET,
        CALLBRIDGE_WEBHOOK_URL: 'http://127.0.0.1:1/webhooks/acme',
        CALLBRIDGE_WEBHOOK_SECRET: 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3',
        BRIDGE_DATA_DIR: dataDir(),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += String(d);
    });
    try {
      await waitUntil(
        () => /"resynchronised with CoreShowChannels"/.test(stdout),
        10_000,
        'bundle logged in',
      );
      expect(ami.actions).toContain('coreshowchannels');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await ami.stop();
    }
  }, 30_000);
});
