/**
 * Every command a new user runs, given bad input, answers with one line saying what is wrong and what to do,
 * and the right exit code (0 help, 1 failed, 2 asked wrongly), never a stack trace. The real scripts run in
 * their own processes, as `npm run …` runs them.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoStack } from '../../infra/local/main';
import { LOCAL_TABLES } from '../../infra/local/stack';
import { checkNodeVersion } from '../../scripts/cli';

const root = process.cwd();
const loader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One script run with tsx as a loader, in `cwd`, with AWS credentials kept out of reach. */
const run = (
  script: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; until?: RegExp } = {},
) =>
  new Promise<Run & { kill: () => void }>((resolve) => {
    const home = options.cwd ?? mkdtempSync(join(tmpdir(), 'callbridge-cmd-'));
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      if (value !== undefined && !key.startsWith('AWS_') && key !== 'CALLBRIDGE_API_URL') env[key] = value;
    }
    const child = spawn(process.execPath, ['--import', loader, join(root, script), ...args], {
      cwd: home,
      env: { ...env, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    const kill = () => child.kill('SIGTERM');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (options.until?.test(stdout)) resolve({ code: null, stdout, stderr, kill });
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr, kill }));
  });

/** The first line of stderr, and proof there is no stack trace or Node error code anywhere. */
const oneLine = (result: Run) => {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toMatch(/ERR_PARSE_ARGS|TypeError|CredentialsProviderError \{/);
  return result.stderr.split('\n')[0];
};

describe.concurrent('every command explains itself', () => {
  it.each([
    ['scripts/call.ts', 'npm run call -- ringing|answered|ended|missed'],
    ['scripts/accounts.ts', 'npm run accounts -- integration|add|list'],
    ['infra/local/main.ts', 'npm start'],
    ['widget/build.ts', 'npm run build'],
    ['widget/validate.ts', 'npm run validate'],
    ['bridge/asterisk/main.ts', 'npm run bridge:asterisk'],
    ['scripts/cost.ts', 'npm run cost'],
    ['bench/run.ts', 'npm run bench'],
    ['bench/report.ts', 'npm run bench:report'],
    ['scripts/screenshot.ts', 'npm run screenshot'],
  ])(
    '%s: --help prints the usage with an example (exit 0); an unknown flag prints it and exits 2',
    async (script, usage) => {
      const [help, bad] = await Promise.all([run(script, ['--help']), run(script, ['--frobnicate'])]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`usage: ${usage}`);
      expect(help.stdout).toMatch(/\nexample:\n {2}\S/);
      expect(bad.code).toBe(2);
      expect(oneLine(bad)).toMatch(/^(error|callbridge asterisk bridge): unknown option --frobnicate$/);
      expect(bad.stderr).toContain(`usage: ${usage}`);
    },
  );
});

describe('npm run call', () => {
  let demo: Awaited<ReturnType<typeof startDemoStack>>;
  let dir: string;
  let localFile: string;
  beforeAll(async () => {
    demo = await startDemoStack({ port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'callbridge-call-'));
    mkdirSync(join(dir, '.local'));
    localFile = join(dir, '.local/stack.json');
    writeFileSync(
      localFile,
      JSON.stringify({
        url: demo.stack.url,
        webSocketUrl: demo.stack.webSocketUrl,
        dynamoEndpoint: demo.stack.dynamoEndpoint,
        tables: LOCAL_TABLES,
        account: { subdomain: demo.account.subdomain },
      }),
    );
  });
  afterAll(async () => {
    await demo?.stack.stop();
  });
  const call = (...args: string[]) => run('scripts/call.ts', args, { cwd: dir });

  it('names the rule an argument breaks, and sends nothing (exit 2)', async () => {
    const [space, letters, state] = await Promise.all([
      call('ringing', '--ext', 'ext 101'),
      call('ringing', '--from', 'nobody'),
      call('rang'),
    ]);
    expect(space.code).toBe(2);
    expect(oneLine(space)).toBe(
      'error: --ext "ext 101": an extension cannot contain spaces; give the extension alone, such as --ext 101',
    );
    expect(letters.code).toBe(2);
    expect(oneLine(letters)).toBe(
      'error: --from "nobody": expected a phone number with digits, such as +15551234567',
    );
    expect(state.code).toBe(2);
    expect(oneLine(state)).toBe(
      'error: unknown call state "rang": expected ringing, answered, ended or missed',
    );
    expect(space.stdout + letters.stdout + state.stdout).not.toContain('POST');
  });

  it('says to start the stack when there is none (exit 2)', async () => {
    const result = await run('scripts/call.ts', ['ringing']);
    expect(result.code).toBe(2);
    expect(oneLine(result)).toBe(
      'error: .local/stack.json not found: start the local stack first (npm start)',
    );
  });

  it('exits 1 on a refused call (401: wrong secret)', async () => {
    const result = await call(
      'ringing',
      '--url',
      demo.stack.url,
      '--subdomain',
      demo.account.subdomain,
      '--secret',
      'whsec_bm90LXRoZS1hY2NvdW50LXNlY3JldA==',
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('401 {');
    expect(result.stdout).toContain('bad_signature');
  });

  it('warns when nobody was rung, naming the extension', async () => {
    const result = await call('ringing', '--ext', '999');
    expect(result.code).toBe(0);
    expect(oneLine(result)).toBe(
      'warning: nobody was rung: extension 999 is not mapped to a Kommo user (widget settings, or PUT /agents)',
    );
  });

  it("continues the last call with its caller and extensions: a follow-up rings the call's agents only", async () => {
    const ring = await call('ringing', '--from', '+44 20 7946 0958', '--ext', '102');
    expect(ring.code).toBe(0);
    const callId = /ringing call (cli-\S+)/.exec(ring.stdout)?.[1] ?? '';
    const missed = await call('missed');
    expect(missed.code).toBe(0);
    expect(missed.stdout).toContain(`missed call ${callId} from +44 20 7946 0958 to ext 102`);
    expect(missed.stdout).toMatch(/"state":"ended".*"users":1/);
    const stored = await demo.stack.state.getCall(demo.account.subdomain, callId);
    expect(stored?.call.from).toBe('+44 20 7946 0958');
    expect(stored?.call.outcome).toBe('missed');
  });
});

describe('npm start', () => {
  let busy: Server;
  let port: number;
  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(() => busy.close());

  it('says which port is busy and how to pick another (exit 1)', async () => {
    const result = await run('infra/local/main.ts', [], { env: { PORT: String(port) } });
    expect(result.code).toBe(1);
    expect(oneLine(result)).toBe(
      `error: port ${port} is already in use by another npm start or another program: stop it, or pick other ports with PORT=…`,
    );
  });

  it('refuses a second npm start in the same folder, naming the first (exit 1)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'callbridge-twice-'));
    const first = await run('infra/local/main.ts', [], { cwd, env: { PORT: '0' }, until: /--data '/ });
    try {
      const url = /local stack on (http:\/\/\S+)/.exec(first.stdout)?.[1];
      const second = await run('infra/local/main.ts', [], { cwd, env: { PORT: '0' } });
      expect(second.code).toBe(1);
      expect(oneLine(second)).toMatch(
        new RegExp(
          `^error: another npm start \\(pid \\d+, ${url}\\) is already running in this folder: stop it first, or use that one$`,
        ),
      );
    } finally {
      first.kill();
    }
  });

  it('says the folder is in use when only the database lock tells (the first one left no pid file)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'callbridge-locked-'));
    const first = await run('infra/local/main.ts', [], { cwd, env: { PORT: '0' }, until: /--data '/ });
    try {
      rmSync(join(cwd, '.local/npm-start.pid'));
      const second = await run('infra/local/main.ts', [], { cwd, env: { PORT: '0' } });
      expect(second.code).toBe(1);
      expect(oneLine(second)).toBe(
        'error: another npm start is already running in this folder (its data in .local/dynamo is locked): stop it first, or run this one from another folder',
      );
    } finally {
      first.kill();
    }
  });

  it('names a bad setting (exit 2)', async () => {
    const result = await run('infra/local/main.ts', [], { env: { PORT: 'eighty' } });
    expect(result.code).toBe(2);
    expect(oneLine(result)).toBe('error: PORT: expected 0-65535, got "eighty"');
  });
});

describe('npm run accounts, build, validate', () => {
  it('accounts without AWS credentials: run aws configure or pass --local (exit 1)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'callbridge-nocreds-'));
    writeFileSync(
      join(cwd, 'cdk-outputs.json'),
      JSON.stringify({
        Callbridge: { AccountsTableName: 't', HttpApiUrl: 'https://x.test', Region: 'eu-west-1' },
      }),
    );
    const result = await run('scripts/accounts.ts', ['list'], { cwd });
    expect(result.code).toBe(1);
    expect(oneLine(result)).toBe(
      'error: no AWS credentials found: run `aws configure` (or set AWS_PROFILE), or pass --local to use the running local stack',
    );
  });

  it('accounts: a missing flag is named (exit 2)', async () => {
    const result = await run('scripts/accounts.ts', ['remove', '--local']);
    expect(result.code).toBe(2);
    expect(oneLine(result)).toBe('error: --subdomain is required for "remove"');
  });

  it('build refuses a backend URL that is not https, unless it is this machine (exit 2)', async () => {
    const result = await run('widget/build.ts', [], {
      env: { CALLBRIDGE_API_URL: 'http://api.example.com' },
    });
    expect(result.code).toBe(2);
    expect(oneLine(result)).toBe(
      'error: CALLBRIDGE_API_URL: "http://api.example.com" must start with https:// (Kommo pages are https and browsers block plain http; only localhost may use http)',
    );
    expect(result.stdout).not.toContain('built');
  });

  it('validate names a missing archive (exit 1)', async () => {
    const result = await run('widget/validate.ts', ['missing.zip']);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toBe('error: missing.zip not found: run npm run build first');
  });
});

describe('Node versions', () => {
  it('is quiet on Node 22 and 24; below, one line of ours replaces the AWS SDK notice', () => {
    const lines: string[] = [];
    const before = process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    try {
      expect(checkNodeVersion('24.21.0', (l) => lines.push(l))).toBe(true);
      expect(checkNodeVersion('22.12.0', (l) => lines.push(l))).toBe(true);
      expect(lines).toEqual([]);
      expect(checkNodeVersion('20.20.2', (l) => lines.push(l))).toBe(false);
      expect(lines).toEqual([
        'warning: Node 20.20.2 is not supported; use Node 22 or 24 (on Linux x64, npm ci installs Node 24 for the npm scripts)',
      ]);
      expect(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe('true');
    } finally {
      if (before === undefined) delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
      else process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = before;
    }
  });

  it('npm start prints no warning on a supported Node, and only our one line below', async () => {
    const first = await run('infra/local/main.ts', [], { env: { PORT: '0' }, until: /--data '/ });
    first.kill();
    const supported = Number(process.versions.node.split('.')[0]) >= 22;
    expect(first.stderr.trim().split('\n').filter(Boolean)).toHaveLength(supported ? 0 : 1);
    expect(first.stdout + first.stderr).not.toMatch(/NodeVersionSupportWarning/);
  });
});
