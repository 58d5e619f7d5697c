/**
 * The whole backend on one machine: dynalite for DynamoDB, the local gateway for API Gateway, and the very
 * handler factories the Lambdas export, wired with the real SDK clients pointed at loopback.
 */
import type { AddressInfo } from 'node:net';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { ApiGatewayPusher } from '../../lambdas/adapters/apigw-pusher';
import {
  cachedAccountLookup,
  DynamoAccountStore,
  readOnlyAccounts,
} from '../../lambdas/adapters/dynamo-accounts';
import { DynamoCrmLedger } from '../../lambdas/adapters/dynamo-crm-ledger';
import { DynamoInstallCodeStore } from '../../lambdas/adapters/dynamo-install-codes';
import { DynamoInstallationStore } from '../../lambdas/adapters/dynamo-installations';
import { cachedIntegration, DynamoIntegrationStore } from '../../lambdas/adapters/dynamo-integration';
import { DynamoPopupAcks } from '../../lambdas/adapters/dynamo-popup-acks';
import { DynamoStateStore } from '../../lambdas/adapters/dynamo-state';
import type { TenantLimits } from '../../lambdas/core/limits';
import { FUNCTIONS, type FunctionName } from '../../lambdas/functions/manifest';
import { makeAgentsHandler } from '../../lambdas/handlers/agents';
import { makeCrmSettingsHandler } from '../../lambdas/handlers/crm-settings';
import { makeCrmWorkerHandler } from '../../lambdas/handlers/crm-worker';
import { makeDisableHookHandler, makeOAuthRedirectHandler } from '../../lambdas/handlers/oauth';
import { makeProviderWebhookHandler } from '../../lambdas/handlers/provider-webhook';
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
import { KommoLimiter } from '../../lambdas/kommo/limiter';
import { errorFields, silentLogger } from '../../lambdas/logger';
import { type Clock, type ConnectionCloser, type Logger, systemClock } from '../../lambdas/ports';
import { PROVIDERS } from '../../lambdas/providers';
import type { CrmWorkerDeps } from '../../lambdas/usecases/crm-worker';
import type { KommoDeps } from '../../lambdas/usecases/kommo-deps';
import { disableInstallation } from '../../lambdas/usecases/kommo-disable';
import { completeInstall, type InstallOutcome } from '../../lambdas/usecases/kommo-install';
import { runMaintenance } from '../../lambdas/usecases/kommo-maintenance';
import { kommoServices } from '../../lambdas/usecases/kommo-services';
import { syncAccountSettings } from '../../lambdas/usecases/kommo-settings';
import { KOMMO_ORIGINS, LOCAL_ORIGINS } from '../routes';
import { LocalQueue, pollOnce, type SqsHandler } from './crm-queue';
import { type DynamoFront, type DynamoFrontOptions, startDynamoFront } from './dynamo/front';
import type { ThroughputLimits } from './dynamo/throttle';
import { attachByManifest, type InvocationStats, type LocalHandlers } from './functions';
import { type GatewayOptions, LocalGateway } from './gateway';
import { type Denial, functionAccessKey, manifestAuthorizer } from './manifest-access';
import { type CountingMetrics, countingMetrics } from './metrics';
import { createTables } from './tables';

/** Functions without the management API grant must never try to close a socket. */
const noConnectionCloser: ConnectionCloser = {
  close: async () => {
    throw new Error('this function has no @connections access');
  },
};

export const LOCAL_TABLES = {
  state: 'callbridge-state',
  accounts: 'callbridge-accounts',
  kommo: 'callbridge-kommo',
} as const;

/** The local stand-in for SQS keeps its messages here (see crm-queue.ts). */
export const LOCAL_QUEUE_TABLE = 'callbridge-local-queues';

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
  clock?: Clock;
  logger?: Logger;
  extra?: GatewayOptions['extra'];
  /** Account lookups are cached for up to 5 minutes on AWS; tests that rotate secrets set this to 0. */
  accountCacheMs?: number;
  /** How long an abandoned webhook claim blocks a retry (30 s on AWS). */
  claimLeaseMs?: number;
  /** Per-function timeouts in ms instead of the manifest's (tests that exercise a timeout shorten it). */
  timeoutsMs?: Partial<Record<FunctionName, number>>;
  /**
   * false: DynamoDB without the strict front (no IAM check, index lag or capacity tally), for benchmarks that
   * measure the code's own cost as before the front existed. Tests and `npm start` keep it on.
   */
  strict?: boolean;
  /**
   * How far the strict DynamoDB front (infra/local/dynamo, always between the handlers and dynalite) keeps
   * global secondary indexes behind their table; 0 (the demo's default) for none. Tests run with a lag.
   */
  indexLagMs?: number;
  /** The per-tenant limits (sockets, tickets, messages per socket) instead of TENANT_LIMITS: tests that open
   * many sockets for one user raise them; the defaults are what AWS runs. */
  limits?: TenantLimits;
  /** Per-partition-key limits the front enforces (AWS_PARTITION_LIMITS for AWS's); off when absent. */
  throughput?: ThroughputLimits;
  /** The front's other options: IAM `authorize` hook, ARN region/account, KMS-encrypted tables. */
  dynamoFront?: Omit<DynamoFrontOptions, 'backendEndpoint' | 'host' | 'port' | 'indexLagMs' | 'throughput'>;
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
  /** The CRM queue's event source: poll every this many ms (npm start); tests drain it themselves when absent. */
  crmPollMs?: number;
  /** The CRM worker's claim lease (120 s on AWS). */
  crmLeaseMs?: number;
  /** The local queue's visibility timeout (6 × the worker's timeout on AWS). */
  crmVisibilityMs?: number;
}

export interface LocalCrm {
  queue: LocalQueue;
  ledger: DynamoCrmLedger;
  /** The worker's dependencies, for tests that build a worker which fails at a chosen point. */
  workerDeps: CrmWorkerDeps;
  /** One receive → invoke → delete round with another handler (a crashing worker), beside the usual one. */
  pollWith(handler: SqsHandler): Promise<number>;
  /** One receive → invoke → delete round, as Lambda's event source mapping; the number of messages taken. */
  pollOnce(): Promise<number>;
  /** Poll until nothing is visible. */
  drain(): Promise<void>;
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
  /** Where the handlers' DynamoDB client points: the front when on, else dynalite. */
  dynamoEndpoint: string;
  /** The strict front every DynamoDB call goes through (absent with `strict: false`): its `capacity` tally says what each key consumed. */
  front: DynamoFront | undefined;
  /** The operator's client (every permission): for seeding and inspecting. */
  dynamo: DynamoDBClient;
  /** The client a function signs its calls with (one per function, as one per Lambda container). */
  dynamoOf(fn: FunctionName): DynamoDBClient;
  /** DynamoDB calls the front refused because the calling function's manifest entry does not declare them. */
  denials: Denial[];
  state: DynamoStateStore;
  /** The widgets' pop-up acks (the operator's client), for tests that check what an ack stored. */
  acks: DynamoPopupAcks;
  accounts: DynamoAccountStore;
  /** What the functions counted (on AWS: EMF metrics). */
  metrics: CountingMetrics;
  /** Lambda invocations and their durations per function. */
  invocations: InvocationStats;
  kommo: LocalKommo;
  crm: LocalCrm;
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
  // Through the strict front (IAM per function from the manifest, index lag and limits as configured), unless
  // a benchmark measures the code's own cost without the emulation's.
  const denials: Denial[] = [];
  const front =
    options.strict === false
      ? undefined
      : await startDynamoFront({
          authorize: manifestAuthorizer(LOCAL_TABLES, LOCAL_CREDENTIALS.accessKeyId, denials),
          ...options.dynamoFront,
          backendEndpoint: db.endpoint,
          host: options.host ?? '127.0.0.1',
          indexLagMs: options.indexLagMs ?? 0,
          throughput: options.throughput,
        });
  const dynamoEndpoint = front?.endpoint ?? db.endpoint;
  const dynamo = localDynamoClient(dynamoEndpoint);
  // Each function signs as itself, so the front can hold it to its manifest entry.
  const functionClients = new Map<FunctionName, DynamoDBClient>();
  const clientFor = (fn: FunctionName) => {
    let client = functionClients.get(fn);
    if (!client) {
      client = new DynamoDBClient({
        endpoint: dynamoEndpoint,
        region: 'local',
        credentials: { accessKeyId: functionAccessKey(fn), secretAccessKey: 'local' },
        maxAttempts: 3,
      });
      functionClients.set(fn, client);
    }
    return client;
  };
  const stateFor = (fn: FunctionName) =>
    new DynamoStateStore(clientFor(fn), {
      tableName: LOCAL_TABLES.state,
    });
  const accountFor = (fn: FunctionName) =>
    cachedAccountLookup(
      new DynamoAccountStore(clientFor(fn), LOCAL_TABLES.accounts),
      clock,
      options.accountCacheMs ?? 5_000,
    );
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
  });
  const accounts = new DynamoAccountStore(dynamo, LOCAL_TABLES.accounts);
  const management = new ApiGatewayManagementApiClient({
    endpoint: gateway.managementEndpoint,
    region: 'local',
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 4,
  });
  const pusher = new ApiGatewayPusher(management, options.pushTimeoutMs ?? 3000);
  const pushConcurrency = options.pushConcurrency ?? 32;
  const named = (name: string) => (logger === silentLogger ? logger : withService(logger, name));

  const metrics = countingMetrics();
  // Each Kommo function has its own stores on its own client (held to its manifest entry) and, as one
  // Lambda container each, its own limiter towards Kommo.
  // One process: the Kommo functions share one limiter here, as Kommo counts all of them against one limit.
  const kommoLimiter = new KommoLimiter(options.kommo?.requestsPerSecond, () => clock.now());
  const kommoFor = (fn: FunctionName, withSockets = false, accountWrites = true): KommoDeps => {
    const store = stateFor(fn);
    const accountStore = new DynamoAccountStore(clientFor(fn), LOCAL_TABLES.accounts);
    return kommoServices({
      integration: cachedIntegration(
        new DynamoIntegrationStore(clientFor(fn), LOCAL_TABLES.kommo),
        () => clock.now(),
        0,
      ),
      codes: new DynamoInstallCodeStore(clientFor(fn), LOCAL_TABLES.kommo),
      installations: new DynamoInstallationStore(clientFor(fn), LOCAL_TABLES.kommo),
      accounts: accountWrites ? accountStore : readOnlyAccounts(accountStore),
      agents: store,
      connections: store,
      closer: withSockets ? pusher : noConnectionCloser,
      clock,
      logger: named(fn),
      ...options.kommo,
      limiter: kommoLimiter,
    });
  };
  const crmTrigger = FUNCTIONS.crmWorker.triggers[0];
  await LocalQueue.ensureTable(dynamo, LOCAL_QUEUE_TABLE);
  const crmQueue = new LocalQueue(dynamo, {
    table: LOCAL_QUEUE_TABLE,
    queue: crmTrigger.queue,
    visibilityMs: options.crmVisibilityMs ?? FUNCTIONS.crmWorker.timeoutSeconds * 6 * 1000,
    maxReceives: crmTrigger.maxReceives,
    clock,
  });
  const crmDeps = kommoFor('crmWorker', false, false);
  const workerDeps: CrmWorkerDeps = {
    accounts: crmDeps.accounts,
    calls: stateFor('crmWorker'),
    acks: new DynamoPopupAcks(clientFor('crmWorker'), LOCAL_TABLES.state),
    ledger: new DynamoCrmLedger(clientFor('crmWorker'), LOCAL_TABLES.kommo),
    client: crmDeps.client,
    clock,
    logger: named('crmWorker'),
    leaseMs: options.crmLeaseMs ?? 120_000,
    maxReceives: crmTrigger.maxReceives,
  };
  const crmWorker = makeCrmWorkerHandler(workerDeps);
  // One consumer at a time (reserved concurrency 1 on AWS).
  let polling: Promise<number> = Promise.resolve(0);
  const crmPoll = () => {
    polling = polling.then(() => pollOnce(crmQueue, crmWorker, crmTrigger.batchSize));
    return polling;
  };
  const crm: LocalCrm = {
    queue: crmQueue,
    ledger: new DynamoCrmLedger(dynamo, LOCAL_TABLES.kommo),
    pollOnce: crmPoll,
    workerDeps,
    pollWith: (handler) => pollOnce(crmQueue, handler, crmTrigger.batchSize),
    drain: async () => {
      while ((await crmPoll()) > 0) {}
    },
  };
  let pollTimer: NodeJS.Timeout | undefined;
  if (options.crmPollMs !== undefined) {
    const every = options.crmPollMs;
    const tick = () => {
      crm
        .drain()
        .catch((error: unknown) => logger.error('crm poll failed', errorFields(error)))
        .finally(() => {
          if (pollTimer) pollTimer = setTimeout(tick, every);
        });
    };
    pollTimer = setTimeout(tick, every);
  }
  const installDeps = kommoFor('kommoInstall');
  const maintenanceDeps = kommoFor('kommoMaintenance');
  const redirectDeps = kommoFor('oauthRedirect');
  const disableDeps = kommoFor('oauthDisabled', true);
  const agentsDeps = kommoFor('agents');
  // On AWS the redirect function invokes the exchange function asynchronously; here, a background task.
  const exchanges: Promise<InstallOutcome>[] = [];
  const startExchange = async (id: string) => {
    const run = new Promise<void>((resolve) => setImmediate(resolve)).then(() =>
      completeInstall(installDeps, id).catch((error: unknown) => {
        installDeps.logger.error('kommo exchange failed', errorFields(error));
        return { status: 'failed', reason: 'unexpected', final: false } as const;
      }),
    );
    exchanges.push(run);
  };
  const kommo: LocalKommo = {
    deps: maintenanceDeps,
    integrations: new DynamoIntegrationStore(dynamo, LOCAL_TABLES.kommo),
    idle: async () => {
      const done: InstallOutcome[] = [];
      while (exchanges.length > 0) done.push(...(await Promise.all(exchanges.splice(0))));
      return done;
    },
    maintenance: () => runMaintenance(maintenanceDeps),
  };
  const handlers: LocalHandlers = {
    webhook: makeWebhookHandler({
      account: accountFor('webhook'),
      store: stateFor('webhook'),
      pusher,
      clock,
      logger: named('webhook'),
      metrics,
      pushConcurrency,
      claimLeaseMs: options.claimLeaseMs,
      crm: crmQueue,
    }),
    providerWebhook: makeProviderWebhookHandler({
      account: accountFor('providerWebhook'),
      providers: PROVIDERS,
      store: stateFor('providerWebhook'),
      pusher,
      clock,
      logger: named('provider-webhook'),
      metrics,
      pushConcurrency,
      claimLeaseMs: options.claimLeaseMs,
      crm: crmQueue,
    }),
    tickets: (() => {
      const store = stateFor('tickets');
      return makeTicketsHandler({
        account: accountFor('tickets'),
        tickets: store,
        rates: store,
        limits: options.limits,
        events: store,
        clock,
        logger: named('tickets'),
        webSocketUrl: gateway.webSocketUrl,
      });
    })(),
    oauthRedirect: makeOAuthRedirectHandler({
      integration: redirectDeps.integration,
      codes: redirectDeps.codes,
      startExchange,
      clock,
      logger: named('oauthRedirect'),
    }),
    oauthDisabled: makeDisableHookHandler({
      integration: disableDeps.integration,
      disable: (accountId) => disableInstallation(disableDeps, accountId),
      logger: named('oauthDisabled'),
    }),
    webhookSettings: makeWebhookSettingsHandler({
      account: accountFor('webhookSettings'),
      accounts: new DynamoAccountStore(clientFor('webhookSettings'), LOCAL_TABLES.accounts),
      publicUrl: gateway.url,
      clock,
      logger: named('webhookSettings'),
    }),
    // The installed functions without an HTTP route run from startExchange and kommo.maintenance above.
    kommoInstall: async () => undefined,
    kommoMaintenance: async () => undefined,
    crmWorker,
    crmSettings: makeCrmSettingsHandler({
      account: accountFor('crmSettings'),
      accounts: new DynamoAccountStore(clientFor('crmSettings'), LOCAL_TABLES.accounts),
      ledger: new DynamoCrmLedger(clientFor('crmSettings'), LOCAL_TABLES.kommo),
      clock,
      logger: named('crmSettings'),
    }),
    agents: makeAgentsHandler({
      account: accountFor('agents'),
      agents: stateFor('agents'),
      syncFromKommo: (accountId, subdomain) => syncAccountSettings(agentsDeps, accountId, subdomain),
      clock,
      logger: named('agents'),
    }),
    authorizer: makeAuthorizer({ tickets: stateFor('authorizer'), clock, logger: named('authorizer') }),
    connect: makeConnectHandler({
      connections: stateFor('connect'),
      closer: pusher,
      clock,
      logger: named('connect'),
      metrics,
      limits: options.limits,
    }),
    disconnect: makeDisconnectHandler({ connections: stateFor('disconnect'), logger: named('disconnect') }),
    default: (() => {
      const store = stateFor('default');
      return makeDefaultHandler({
        connections: store,
        rates: store,
        closer: pusher,
        limits: options.limits,
        index: store,
        calls: store,
        acks: new DynamoPopupAcks(clientFor('default'), LOCAL_TABLES.state),
        pusher,
        clock,
        logger: named('default'),
        metrics,
        pushConcurrency,
      });
    })(),
  };
  const invocations: InvocationStats = {};
  gateway.attach(attachByManifest(handlers, options.timeoutsMs, invocations));

  return {
    gateway,
    url: gateway.url,
    webSocketUrl: gateway.webSocketUrl,
    dynamoEndpoint,
    front,
    dynamo,
    dynamoOf: (fn) => clientFor(fn),
    denials,
    state,
    acks: new DynamoPopupAcks(dynamo, LOCAL_TABLES.state),
    accounts,
    metrics,
    invocations,
    kommo,
    crm,
    async stop() {
      if (pollTimer) clearTimeout(pollTimer);
      pollTimer = undefined;
      await polling.catch(() => 0);
      await kommo.idle();
      await gateway.close();
      management.destroy();
      dynamo.destroy();
      for (const client of functionClients.values()) client.destroy();
      await front?.close();
      await db.close();
    },
  };
};

/** Fails, naming each call, when a function made DynamoDB calls its manifest entry does not declare. */
export const assertNoDenials = (stack: Pick<LocalStack, 'denials'>) => {
  if (stack.denials.length === 0) return;
  const calls = [
    ...new Set(stack.denials.map((d) => `${d.fn}: ${d.action} on ${d.resource.replace(/^.*:table\//, '')}`)),
  ];
  throw new Error(
    `functions made DynamoDB calls their manifest entries do not declare:\n  ${calls.join('\n  ')}`,
  );
};

const withService = (logger: Logger, service: string): Logger => ({
  info: (m, f) => logger.info(m, { service, ...f }),
  warn: (m, f) => logger.warn(m, { service, ...f }),
  error: (m, f) => logger.error(m, { service, ...f }),
});
