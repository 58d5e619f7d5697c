/**
 * `npm start`: the whole of Callbridge on one machine. DynamoDB (dynalite) keeps its data under .local/
 * so a restart loses nothing; `npm start -- --fresh` wipes it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../../lambdas/config';
import { newAccount } from '../../lambdas/core/accounts';
import { isWebhookSecret, newWebhookSecret, signWebhook } from '../../lambdas/core/webhook-signature';
import { jsonLogger } from '../../lambdas/logger';
import { demoRoutes } from './demo';
import { LOCAL_TABLES, startLocalStack } from './stack';

const DATA_DIR = '.local';

export interface LocalConfig {
  port: number;
  host: string;
  subdomain: string;
  clientSecret: string | undefined;
  webhookSecret: string | undefined;
  fresh: boolean;
  verbose: boolean;
}

export const readLocalConfig = (env: Record<string, string | undefined>, argv: string[]): LocalConfig => {
  const { values } = parseArgs({
    args: argv,
    options: { fresh: { type: 'boolean' }, verbose: { type: 'boolean' } },
  });
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
  return {
    port,
    host: env.HOST ?? '127.0.0.1',
    subdomain,
    clientSecret: env.KOMMO_CLIENT_SECRET,
    webhookSecret: env.WEBHOOK_SECRET,
    fresh: values.fresh ?? false,
    verbose: values.verbose ?? false,
  };
};

export const startLocal = async (config: LocalConfig, print: (line: string) => void = console.log) => {
  if (config.fresh) rmSync(DATA_DIR, { recursive: true, force: true });
  mkdirSync(`${DATA_DIR}/dynamo`, { recursive: true });
  const logger = config.verbose ? jsonLogger('local') : undefined;
  let demo: ReturnType<typeof demoRoutes> | undefined;
  const stack = await startLocalStack({
    host: config.host,
    port: config.port,
    dataDir: `${DATA_DIR}/dynamo`,
    logger,
    accountCacheMs: 0,
    extra: (req, res) => demo?.handle(req, res) ?? false,
  });

  // The dev account survives restarts; secrets given in the environment win over stored ones.
  const stored = await stack.accounts.getAccount(config.subdomain);
  const account =
    stored && (!config.clientSecret || stored.clientSecret === config.clientSecret)
      ? stored
      : newAccount(
          {
            subdomain: config.subdomain,
            integrationId: 'callbridge-local',
            clientSecret: config.clientSecret ?? randomBytes(24).toString('base64url'),
            webhookSecret: config.webhookSecret ?? stored?.webhookSecrets[0]?.secret,
          },
          Date.now(),
        );
  if (config.webhookSecret && account.webhookSecrets[0]?.secret !== config.webhookSecret) {
    account.webhookSecrets = [{ secret: config.webhookSecret, createdAt: Date.now() }];
  }
  if (!account.webhookSecrets[0])
    account.webhookSecrets = [{ secret: newWebhookSecret(), createdAt: Date.now() }];
  await stack.accounts.putAccount(account);
  demo = demoRoutes({ stack, account });

  writeFileSync(
    `${DATA_DIR}/stack.json`,
    JSON.stringify(
      {
        url: stack.url,
        webSocketUrl: stack.webSocketUrl,
        dynamoEndpoint: stack.dynamoEndpoint,
        tables: LOCAL_TABLES,
        account: { subdomain: account.subdomain },
      },
      null,
      2,
    ),
  );

  const secret = account.webhookSecrets[0]?.secret ?? '';
  const body = JSON.stringify({
    version: 1,
    type: 'call.ringing',
    call: { id: `curl-${Date.now()}`, direction: 'inbound', from: '+15551234567', to: '+15557654321' },
    agents: { extensions: ['101'] },
    occurredAt: new Date().toISOString(),
  });
  const headers = signWebhook(secret, `msg_${Date.now()}`, Math.floor(Date.now() / 1000), body);
  print(`Callbridge local stack on ${stack.url}

  Demo page            ${stack.url}/
  Webhook URL          ${stack.url}/webhooks/${account.subdomain}
  WebSocket URL        ${stack.webSocketUrl}
  @connections API     ${stack.gateway.managementEndpoint}/@connections/{id}
  DynamoDB (dynalite)  ${stack.dynamoEndpoint}   data in ${DATA_DIR}/dynamo (npm start -- --fresh wipes it)

  Kommo account        ${account.subdomain}.${account.domain}
  Integration secret   ${account.clientSecret}   (KOMMO_CLIENT_SECRET)
  Webhook secret       ${secret}   (WEBHOOK_SECRET)

Send a signed call (valid for 5 minutes; \`npm run call -- ringing --ext 101\` signs a fresh one):

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
  try {
    const config = readLocalConfig(process.env, process.argv.slice(2));
    const { stack } = await startLocal(config);
    const stop = async () => {
      await stack.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`error: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
}
