/**
 * `npm start`: the whole of Callbridge on one machine. DynamoDB (dynalite) keeps its data under .local/
 * so a restart loses nothing; `npm start -- --fresh` wipes it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, readKommoApiOrigin, readTuning } from '../../lambdas/config';
import { newAccount } from '../../lambdas/core/accounts';
import { isWebhookSecret, newWebhookSecret, signWebhook } from '../../lambdas/core/webhook-signature';
import { jsonLogger } from '../../lambdas/logger';
import { CliError, parseCommand, runCli, UsageError } from '../../scripts/cli';
import { buildWidget, widgetIsStale } from '../../widget/build';
import { DEMO_ACCOUNT_ID, DEMO_CONTACTS, DEMO_USERS, demoRoutes } from './demo';
import { KommoEmulator } from './kommo/emulator';
import { buildCallEvent } from './signed-call';
import { LOCAL_TABLES, startLocalStack } from './stack';

const DATA_DIR = '.local';
const root = fileURLToPath(new URL('../../', import.meta.url));

export interface LocalConfig {
  port: number;
  host: string;
  subdomain: string;
  clientSecret: string | undefined;
  webhookSecret: string | undefined;
  fresh: boolean;
  verbose: boolean;
  claimLeaseMs: number;
  /** The byAccount index's lag behind the table, in ms, as the strict DynamoDB front models it. */
  indexLagMs: number;
  /** The integration's id (KOMMO_CLIENT_ID); the secret key is clientSecret. */
  clientId: string;
  /** KOMMO_API_ORIGIN: a Kommo (or emulator) already running; otherwise one is started on kommoPort. */
  kommoApiOrigin: string | undefined;
  kommoPort: number;
}

export const START_COMMAND = {
  usage: 'npm start [-- --fresh] [--verbose]',
  details: `  --fresh      wipe .local/ (the local DynamoDB data) first
  --verbose    log every handler's JSON lines
  environment: PORT (8787; the Kommo emulator takes PORT+1), HOST (127.0.0.1), KOMMO_SUBDOMAIN (demo),
               KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET and WEBHOOK_SECRET (generated when unset),
               INDEX_LAG_MS (0), KOMMO_API_ORIGIN (a Kommo to use instead of the emulator)`,
  examples: ['npm start', 'PORT=9000 npm start -- --fresh'],
  options: { fresh: { type: 'boolean' }, verbose: { type: 'boolean' } },
} as const;

export const readLocalConfig = (env: Record<string, string | undefined>, argv: string[]): LocalConfig => {
  const { values } = parseCommand(START_COMMAND, argv);
  const port = Number(env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError(`PORT: expected 0-65535, got "${env.PORT}"`);
  const subdomain = (env.KOMMO_SUBDOMAIN ?? 'demo').toLowerCase();
  if (!/^[a-z0-9-]{1,63}$/.test(subdomain))
    throw new ConfigError(`KOMMO_SUBDOMAIN: expected [a-z0-9-]{1,63}, got "${subdomain}"`);
  if (env.WEBHOOK_SECRET && !isWebhookSecret(env.WEBHOOK_SECRET)) {
    throw new ConfigError('WEBHOOK_SECRET: expected whsec_ followed by base64 (16+ characters)');
  }
  if (env.KOMMO_CLIENT_SECRET !== undefined && env.KOMMO_CLIENT_SECRET.length < 16) {
    throw new ConfigError('KOMMO_CLIENT_SECRET: expected 16 or more characters');
  }
  const indexLagMs = Number(env.INDEX_LAG_MS ?? 0);
  if (!Number.isInteger(indexLagMs) || indexLagMs < 0 || indexLagMs > 60_000)
    throw new ConfigError(`INDEX_LAG_MS: expected 0-60000, got "${env.INDEX_LAG_MS}"`);
  const clientId = env.KOMMO_CLIENT_ID ?? 'callbridge-local';
  if (!/^[A-Za-z0-9-]{1,64}$/.test(clientId)) {
    throw new ConfigError(
      `KOMMO_CLIENT_ID: expected the integration id (letters, digits, -), got "${clientId}"`,
    );
  }
  const kommoPort = Number(env.KOMMO_EMULATOR_PORT ?? (port === 0 ? 0 : port + 1));
  if (!Number.isInteger(kommoPort) || kommoPort < 0 || kommoPort > 65_535) {
    throw new ConfigError(`KOMMO_EMULATOR_PORT: expected 0-65535, got "${env.KOMMO_EMULATOR_PORT}"`);
  }
  return {
    clientId,
    kommoApiOrigin: readKommoApiOrigin(env),
    kommoPort,
    port,
    host: env.HOST ?? '127.0.0.1',
    subdomain,
    clientSecret: env.KOMMO_CLIENT_SECRET,
    webhookSecret: env.WEBHOOK_SECRET,
    fresh: values.fresh ?? false,
    verbose: values.verbose ?? false,
    claimLeaseMs: readTuning(env).claimLeaseMs,
    indexLagMs,
  };
};

export interface DemoStackOptions {
  host?: string;
  port?: number;
  /** dynalite's files; in memory when absent (tests). */
  dataDir?: string;
  subdomain?: string;
  clientSecret?: string;
  webhookSecret?: string;
  verbose?: boolean;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  claimLeaseMs?: number;
  /** Run DynamoDB through the strict front with this index lag (off when absent). */
  indexLagMs?: number;
  /** Extra contacts for the demo's contacts fixture. */
  contacts?: { id: number; name: string; phone: string }[];
  clientId?: string;
  /** Use this Kommo instead of starting the emulator. */
  kommoApiOrigin?: string;
  kommoPort?: number;
  /** Display names instead of the demo users' own, by user id. */
  userNames?: Record<number, string>;
}

/** The local stack with its dev account, the demo users' extensions and the demo page. */
export const startDemoStack = async (options: DemoStackOptions = {}) => {
  const widgetDir = join(root, 'dist/widget');
  // The demo loads the built widget; rebuild it when a source changed so nobody debugs a stale bundle.
  if (widgetIsStale()) await buildWidget({ apiUrl: '' });
  let demo: ReturnType<typeof demoRoutes> | undefined;
  const subdomain = options.subdomain ?? 'demo';
  const clientId = options.clientId ?? 'callbridge-local';
  // A Kommo to install from: the emulator, with the demo account, its users, contacts and widget settings.
  const emulator = options.kommoApiOrigin
    ? undefined
    : new KommoEmulator({
        host: options.host,
        port: options.kommoPort ?? 0,
        integration: { clientId, clientSecret: 'pending', redirectUri: 'pending', widgetCode: 'callbridge' },
        accounts: [
          {
            id: DEMO_ACCOUNT_ID,
            subdomain,
            users: DEMO_USERS.map((u) => ({ id: u.id, name: u.name, isAdmin: u.admin })),
            contacts: [...DEMO_CONTACTS, ...(options.contacts ?? [])].map((c) => ({
              id: c.id,
              name: c.name,
              phones: [c.phone],
            })),
            widgetSettings: {
              phones: Object.fromEntries(DEMO_USERS.map((u) => [String(u.id), u.extension])),
            },
          },
        ],
      });
  const kommoOrigin = options.kommoApiOrigin ?? (await emulator?.listen());
  const stack = await startLocalStack({
    kommo: { apiOrigin: kommoOrigin },
    host: options.host,
    port: options.port,
    dataDir: options.dataDir,
    logger: options.verbose ? jsonLogger('local') : undefined,
    accountCacheMs: 0,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnectionMs: options.maxConnectionMs,
    claimLeaseMs: options.claimLeaseMs,
    indexLagMs: options.indexLagMs,
    // The CRM queue's event source: what is waiting (also from before a restart) goes to Kommo.
    crmPollMs: 500,
    extra: (req, res) => demo?.handle(req, res) ?? false,
  });

  // The dev account survives restarts; secrets given in the environment win over stored ones.
  const stored = await stack.accounts.getAccount(subdomain);
  const account =
    stored && (!options.clientSecret || stored.clientSecret === options.clientSecret)
      ? stored
      : newAccount(
          {
            subdomain,
            integrationId: clientId,
            clientSecret: options.clientSecret ?? randomBytes(24).toString('base64url'),
            webhookSecret: options.webhookSecret ?? stored?.webhookSecrets[0]?.secret,
          },
          Date.now(),
        );
  if (emulator && account.kommoAccountId !== undefined) {
    // The emulator keeps its grants in memory: after a restart it knows none of the stored tokens, so the
    // installation is forgotten too (install again from the demo page); the account and its secret stay.
    await stack.kommo.deps.installations.removeInstallation(account.kommoAccountId);
    delete account.kommoAccountId;
    delete account.status;
    delete account.disabledAt;
  }
  if (options.webhookSecret && account.webhookSecrets[0]?.secret !== options.webhookSecret) {
    account.webhookSecrets = [{ secret: options.webhookSecret, createdAt: Date.now() }];
  }
  if (!account.webhookSecrets[0])
    account.webhookSecrets = [{ secret: newWebhookSecret(), createdAt: Date.now() }];
  await stack.accounts.putAccount(account);
  if (Object.keys(await stack.state.getAgentMap(subdomain)).length === 0) {
    await stack.state.putAgentMap(
      subdomain,
      Object.fromEntries(DEMO_USERS.map((u) => [String(u.id), u.extension])),
      DEMO_USERS[0].id,
      Date.now(),
    );
  }
  // The deployment's integration is the dev account's: installing from the emulator adopts that account.
  const integration = {
    clientId,
    clientSecret: account.clientSecret,
    redirectUri: `${stack.url}/oauth/kommo`,
    widgetCode: 'callbridge',
    updatedAt: Date.now(),
  };
  await stack.kommo.integrations.putIntegration(integration);
  if (emulator) {
    Object.assign(emulator.integration, {
      clientSecret: integration.clientSecret,
      redirectUri: integration.redirectUri,
      disableHookUrl: `${stack.url}/oauth/kommo/disabled`,
    });
    const stopStack = stack.stop.bind(stack);
    stack.stop = async () => {
      await stopStack();
      await emulator.close();
    };
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  demo = demoRoutes({
    stack,
    account,
    widgetDir,
    version: pkg.version,
    contacts: options.contacts,
    kommo: kommoOrigin ? { origin: kommoOrigin, clientId, emulator } : undefined,
    userNames: options.userNames,
  });
  return { stack, account, kommo: emulator };
};

/** Another `npm start` in this folder, if one runs: dynalite's LevelDB takes one process per folder. */
const runningStack = (): { pid: number; url?: string } | undefined => {
  const file = `${DATA_DIR}/npm-start.pid`;
  if (!existsSync(file)) return undefined;
  const [pid, url] = readFileSync(file, 'utf8').trim().split(/\s+/);
  const id = Number(pid);
  if (!Number.isSafeInteger(id) || id <= 0 || id === process.pid) return undefined;
  try {
    process.kill(id, 0);
  } catch (error) {
    // ESRCH: gone (a crash left the file); EPERM: alive but another user's.
    if ((error as { code?: unknown }).code !== 'EPERM') return undefined;
  }
  return { pid: id, url };
};

export const startLocal = async (config: LocalConfig, print: (line: string) => void = console.log) => {
  const other = runningStack();
  if (other) {
    throw new CliError(
      `another npm start (pid ${other.pid}${other.url ? `, ${other.url}` : ''}) is already running in this folder: stop it first, or use that one`,
    );
  }
  if (config.fresh) rmSync(DATA_DIR, { recursive: true, force: true });
  mkdirSync(`${DATA_DIR}/dynamo`, { recursive: true });
  writeFileSync(`${DATA_DIR}/npm-start.pid`, `${process.pid}`);
  const { stack, account, kommo } = await startDemoStack({
    host: config.host,
    port: config.port,
    dataDir: `${DATA_DIR}/dynamo`,
    subdomain: config.subdomain,
    clientSecret: config.clientSecret,
    webhookSecret: config.webhookSecret,
    verbose: config.verbose,
    claimLeaseMs: config.claimLeaseMs,
    indexLagMs: config.indexLagMs,
    clientId: config.clientId,
    kommoApiOrigin: config.kommoApiOrigin,
    kommoPort: config.kommoPort,
  });

  writeFileSync(`${DATA_DIR}/npm-start.pid`, `${process.pid} ${stack.url}`);
  writeFileSync(
    `${DATA_DIR}/stack.json`,
    JSON.stringify(
      {
        url: stack.url,
        webSocketUrl: stack.webSocketUrl,
        dynamoEndpoint: stack.dynamoEndpoint,
        tables: LOCAL_TABLES,
        account: { subdomain: account.subdomain },
        kommo: kommo?.url ?? config.kommoApiOrigin,
      },
      null,
      2,
    ),
  );

  const secret = account.webhookSecrets[0]?.secret ?? '';
  const body = JSON.stringify(
    buildCallEvent({
      type: 'call.ringing',
      callId: `curl-${Date.now()}`,
      from: DEMO_CONTACTS[0].phone,
      to: 'ext 101',
      extensions: ['101'],
    }),
  );
  const headers = signWebhook(secret, `msg_${Date.now()}`, Math.floor(Date.now() / 1000), body);
  print(`Callbridge local stack on ${stack.url}

  Demo page            ${stack.url}/   (open it, press "Incoming call"; "Widget settings" maps extensions)
  Webhook URL          ${stack.url}/webhooks/${account.subdomain}
  Provider webhooks    ${stack.url}/webhooks/${account.subdomain}/{twilio|telnyx|vonage|plivo|zadarma}   (npm run accounts -- connect <provider> --local …)
  WebSocket URL        ${stack.webSocketUrl}
  @connections API     ${stack.gateway.managementEndpoint}/@connections/{id}
  DynamoDB             ${stack.dynamoEndpoint}   strict front (index lag ${config.indexLagMs} ms, INDEX_LAG_MS) before dynalite
                       data in ${DATA_DIR}/dynamo (npm start -- --fresh wipes it)

  Kommo account        ${account.subdomain}.${account.domain}
  Kommo API            ${kommo ? `${kommo.url}   (the Kommo emulator; consent page ${kommo.url}/oauth?client_id=${config.clientId})` : `${config.kommoApiOrigin}   (KOMMO_API_ORIGIN)`}
  Redirect URI         ${stack.url}/oauth/kommo   (disable hook: ${stack.url}/oauth/kommo/disabled)
  Integration id       ${config.clientId}   (KOMMO_CLIENT_ID)
  Integration secret   ${account.clientSecret}   (KOMMO_CLIENT_SECRET)
  Webhook secret       ${secret}   (WEBHOOK_SECRET)
  Agents               ${DEMO_USERS.map((u) => `${u.name} (user ${u.id}, ext ${u.extension})`).join(', ')}

Send a signed call to Ada (valid for 5 minutes; \`npm run call -- ringing --ext 101\` signs a fresh one):

curl -i ${stack.url}/webhooks/${account.subdomain} \\
  -H 'content-type: application/json' \\
  -H 'webhook-id: ${headers['webhook-id']}' \\
  -H 'webhook-timestamp: ${headers['webhook-timestamp']}' \\
  -H 'webhook-signature: ${headers['webhook-signature']}' \\
  --data '${body}'
`);
  return { stack, account };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.env.PORT ?? 8787);
  runCli(
    async () => {
      let config: LocalConfig;
      try {
        config = readLocalConfig(process.env, process.argv.slice(2));
      } catch (error) {
        if (error instanceof ConfigError) throw new UsageError(error.message);
        throw error;
      }
      const { stack } = await startLocal(config);
      // What EventBridge does on AWS: the Kommo maintenance job, hourly (token refresh, settings, sweeps).
      const maintenance = setInterval(() => {
        stack.kommo.maintenance().catch((error: unknown) => console.error('kommo maintenance failed', error));
      }, 3600_000);
      const stop = async () => {
        clearInterval(maintenance);
        rmSync(`${DATA_DIR}/npm-start.pid`, { force: true });
        await stack.stop();
        process.exit(0);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    },
    { port: Number.isInteger(port) ? port : undefined },
  );
}
