/**
 * The whole backend on one machine: dynalite for DynamoDB, the local gateway for API Gateway, and the very
 * handler factories the Lambdas export, wired with the real SDK clients pointed at loopback.
 */
import type { AddressInfo } from 'node:net';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { ApiGatewayPusher } from '../../lambdas/adapters/apigw-pusher';
import { cachedAccountLookup, DynamoAccountStore } from '../../lambdas/adapters/dynamo-accounts';
import { DynamoInstallCodeStore } from '../../lambdas/adapters/dynamo-install-codes';
import { DynamoInstallationStore } from '../../lambdas/adapters/dynamo-installations';
import { cachedIntegration, DynamoIntegrationStore } from '../../lambdas/adapters/dynamo-integration';
import { DynamoStateStore } from '../../lambdas/adapters/dynamo-state';
import { makeAgentsHandler } from '../../lambdas/handlers/agents';
import { makeDisableHookHandler, makeOAuthRedirectHandler } from '../../lambdas/handlers/oauth';
import { makeTicketsHandler } from '../../lambdas/handlers/tickets';
import { makeWebhookHandler } from '../../lambdas/handlers/webhook';
import { makeWebhookSettingsHandler } from '../../lambdas/handlers/webhook-settings';
import {
  makeAuthorizer,
  makeConnectHandler,
  makeDefaultHandler,
  makeDisconnectHandler,
} from '../../lambdas/handlers/websocket';
import type { FetchLike, RetryPolicy } from '../../lambdas/kommo/http';
import { errorFields, silentLogger } from '../../lambdas/logger';
import { type Clock, type Logger, systemClock } from '../../lambdas/ports';
import type { KommoDeps } from '../../lambdas/usecases/kommo-deps';
import { disableInstallation } from '../../lambdas/usecases/kommo-disable';
import { completeInstall, type InstallOutcome } from '../../lambdas/usecases/kommo-install';
import { runMaintenance } from '../../lambdas/usecases/kommo-maintenance';
import { kommoServices } from '../../lambdas/usecases/kommo-services';
import { syncAccountSettings } from '../../lambdas/usecases/kommo-settings';
import { KOMMO_ORIGINS, LOCAL_ORIGINS } from '../routes';
import { type GatewayOptions, LocalGateway } from './gateway';
import { createTables } from './tables';

export const LOCAL_TABLES = {
  state: 'callbridge-state',
  accounts: 'callbridge-accounts',
  kommo: 'callbridge-kommo',
} as const;

/** Local SDK clients need some credentials to sign with; nothing checks them. */
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface LocalStackOptions {
  host?: string;
  port?: number;
  /** Directory for dynalite's LevelDB files; in memory when absent. */
  dataDir?: string;
  /** Use a DynamoDB endpoint that is already running (another process) instead of starting dynalite here. */
  dynamoEndpoint?: string;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  pushTimeoutMs?: number;
  pushConcurrency?: number;
  eventRetentionSeconds?: number;
  clock?: Clock;
  logger?: Logger;
  extra?: GatewayOptions['extra'];
  /** Account lookups are cached for up to 5 minutes on AWS; tests that rotate secrets set this to 0. */
  accountCacheMs?: number;
  /** How long an abandoned webhook claim blocks a retry (30 s on AWS). */
  claimLeaseMs?: number;
  /** The Kommo side: where Kommo's API is (KOMMO_API_ORIGIN, the emulator) and client tuning for tests. */
  kommo?: {
    apiOrigin?: string;
    fetch?: FetchLike;
    requestsPerSecond?: number;
    timeoutMs?: number;
    retry?: RetryPolicy;
    maxRetryAfterMs?: number;
    leaseMs?: number;
    pollMs?: number;
  };
}

export interface LocalKommo {
  deps: KommoDeps;
  integrations: DynamoIntegrationStore;
  /** Resolves when every exchange the redirect URI started has finished. */
  idle(): Promise<InstallOutcome[]>;
  maintenance(): ReturnType<typeof runMaintenance>;
}

export interface LocalStack {
  gateway: LocalGateway;
  url: string;
  webSocketUrl: string;
  dynamoEndpoint: string;
  dynamo: DynamoDBClient;
  state: DynamoStateStore;
  accounts: DynamoAccountStore;
  kommo: LocalKommo;
  stop(): Promise<void>;
}

export const startDynalite = async (dataDir?: string, port = 0, host = '127.0.0.1') => {
  const server = dynalite({
    ...(dataDir ? { path: dataDir } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const endpoint = `http://${host}:${(server.address() as AddressInfo).port}`;
  return { server, endpoint, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
};

export const localDynamoClient = (endpoint: string) =>
  new DynamoDBClient({ endpoint, region: 'local', credentials: LOCAL_CREDENTIALS, maxAttempts: 3 });

export const startLocalStack = async (options: LocalStackOptions = {}): Promise<LocalStack> => {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const db = options.dynamoEndpoint
    ? { endpoint: options.dynamoEndpoint, close: async () => {} }
    : await startDynalite(options.dataDir, 0, options.host ?? '127.0.0.1');
  const dynamo = localDynamoClient(db.endpoint);
  await createTables(dynamo, LOCAL_TABLES);

  const gateway = new LocalGateway({
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    corsOrigins: [...KOMMO_ORIGINS, ...LOCAL_ORIGINS],
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnectionMs: options.maxConnectionMs,
    extra: options.extra,
    log: (line) => logger.warn(line),
  });
  await gateway.listen();

  const state = new DynamoStateStore(dynamo, {
    tableName: LOCAL_TABLES.state,
    eventRetentionSeconds: options.eventRetentionSeconds ?? 3600,
  });
  const accounts = new DynamoAccountStore(dynamo, LOCAL_TABLES.accounts);
  const account = cachedAccountLookup(accounts, clock, options.accountCacheMs ?? 5_000);
  const management = new ApiGatewayManagementApiClient({
    endpoint: gateway.managementEndpoint,
    region: 'local',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 4,
  });
  const pusher = new ApiGatewayPusher(management, options.pushTimeoutMs ?? 3000);
  const pushConcurrency = options.pushConcurrency ?? 32;
  const named = (name: string) => (logger === silentLogger ? logger : withService(logger, name));

  const integrations = new DynamoIntegrationStore(dynamo, LOCAL_TABLES.kommo);
  const kommoDeps = kommoServices({
    integration: cachedIntegration(integrations, () => clock.now(), 0),
    codes: new DynamoInstallCodeStore(dynamo, LOCAL_TABLES.kommo),
    installations: new DynamoInstallationStore(dynamo, LOCAL_TABLES.kommo),
    accounts,
    agents: state,
    connections: state,
    closer: pusher,
    clock,
    logger: named('kommo'),
    ...options.kommo,
  });
  // On AWS the redirect function invokes the exchange function asynchronously; here, a background task.
  const exchanges: Promise<InstallOutcome>[] = [];
  const startExchange = async (id: string) => {
    const run = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      completeInstall(kommoDeps, id).catch((error: unknown) => {
        kommoDeps.logger.error('kommo exchange failed', errorFields(error));
        return { status: 'failed', reason: 'unexpected', final: false } as const;
      }),
    );
    exchanges.push(run);
  };
  const kommo: LocalKommo = {
    deps: kommoDeps,
    integrations,
    idle: async () => {
      const done: InstallOutcome[] = [];
      while (exchanges.length > 0) done.push(...(await Promise.all(exchanges.splice(0))));
      return done;
    },
    maintenance: () => runMaintenance(kommoDeps),
  };

  const agents = makeAgentsHandler({
    account,
    agents: state,
    syncFromKommo: (accountId, subdomain) => syncAccountSettings(kommoDeps, accountId, subdomain),
    clock,
    logger: named('agents'),
  });
  gateway.attach({
    http: {
      webhook: makeWebhookHandler({
        account,
        store: state,
        pusher,
        clock,
        logger: named('webhook'),
        pushConcurrency,
        claimLeaseMs: options.claimLeaseMs,
      }),
      tickets: makeTicketsHandler({
        account,
        tickets: state,
        events: state,
        clock,
        logger: named('tickets'),
        webSocketUrl: gateway.webSocketUrl,
      }),
      agents,
      oauthRedirect: makeOAuthRedirectHandler({
        integration: kommoDeps.integration,
        codes: kommoDeps.codes,
        startExchange,
        clock,
        logger: named('oauth'),
      }),
      oauthDisabled: makeDisableHookHandler({
        integration: kommoDeps.integration,
        disable: (accountId) => disableInstallation(kommoDeps, accountId),
        logger: named('oauth'),
      }),
      webhookSettings: makeWebhookSettingsHandler({
        account,
        accounts,
        publicUrl: gateway.url,
        clock,
        logger: named('webhook-settings'),
      }),
    },
    authorizer: makeAuthorizer({ tickets: state, clock, logger: named('authorizer') }),
    connect: makeConnectHandler({ connections: state, clock, logger: named('connect') }),
    disconnect: makeDisconnectHandler({ connections: state, logger: named('disconnect') }),
    default: makeDefaultHandler({
      connections: state,
      events: state,
      calls: state,
      pusher,
      clock,
      logger: named('default'),
      pushConcurrency,
    }),
  });

  return {
    gateway,
    url: gateway.url,
    webSocketUrl: gateway.webSocketUrl,
    dynamoEndpoint: db.endpoint,
    dynamo,
    state,
    accounts,
    kommo,
    async stop() {
      await kommo.idle();
      await gateway.close();
      management.destroy();
      dynamo.destroy();
      await db.close();
    },
  };
};

const withService = (logger: Logger, service: string): Logger => ({
  info: (m, f) => logger.info(m, { service, ...f }),
  warn: (m, f) => logger.warn(m, { service, ...f }),
  error: (m, f) => logger.error(m, { service, ...f }),
});
