/**
 * Production wiring: SDK clients and adapters built once per container, from validated environment.
 * Only this folder touches `process.env` and constructs AWS clients.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { ApiGatewayPusher } from '../adapters/apigw-pusher';
import { cachedAccountLookup, DynamoAccountStore, readOnlyAccounts } from '../adapters/dynamo-accounts';
import { DynamoInstallCodeStore } from '../adapters/dynamo-install-codes';
import { DynamoInstallationStore } from '../adapters/dynamo-installations';
import { cachedIntegration, DynamoIntegrationStore } from '../adapters/dynamo-integration';
import { DynamoStateStore } from '../adapters/dynamo-state';
import { SqsCrmQueue } from '../adapters/sqs-crm-queue';
import { readKommoApiOrigin, readTuning, requireEnv } from '../config';
import { jsonLogger } from '../logger';
import { type ConnectionCloser, systemClock } from '../ports';
import type { KommoDeps } from '../usecases/kommo-deps';
import { type KommoWiring, kommoServices } from '../usecases/kommo-services';
import { FUNCTIONS, type FunctionName } from './manifest';

/** The variables the manifest declares for this function, checked together so one error names all missing. */
export const environment = <F extends FunctionName>(fn: F) =>
  requireEnv(process.env, FUNCTIONS[fn].env as (typeof FUNCTIONS)[F]['env']);

export const tuning = readTuning(process.env);

let dynamo: DynamoDBClient | undefined;
export const dynamoClient = () => {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
};

let sqs: SQSClient | undefined;
/** The CRM queue a webhook sends to; maxAttempts covers SQS's own throttling. */
export const crmQueue = (queueUrl: string) => {
  sqs ??= new SQSClient({ maxAttempts: 4 });
  return new SqsCrmQueue(sqs, queueUrl);
};

export const stateStore = (tableName: string) => new DynamoStateStore(dynamoClient(), { tableName });

export const accountLookup = (tableName: string) =>
  cachedAccountLookup(new DynamoAccountStore(dynamoClient(), tableName), systemClock);

/** maxAttempts covers LimitExceededException (throttling); the pusher's abort signal bounds the total. */
export const pusher = (callbackUrl: string) =>
  new ApiGatewayPusher(
    new ApiGatewayManagementApiClient({ endpoint: callbackUrl, maxAttempts: 4 }),
    tuning.pushTimeoutMs,
  );

/** Functions without the management API grant must never try to close a socket. */
const noConnectionCloser: ConnectionCloser = {
  close: async () => {
    throw new Error('this function has no @connections access');
  },
};

/**
 * The Kommo side for one function: its stores in the Kommo table, the account and state stores, and one
 * limiter/token service/API client per container. `callbackUrl` only where sockets are closed (disable hook).
 */
export const kommo = (
  tables: { kommo: string; accounts: string; state: string },
  service: string,
  callbackUrl?: string,
  /** Request-path functions bound their Kommo time tighter than background ones. */
  tuning: Pick<KommoWiring, 'timeoutMs' | 'retry' | 'maxRetryAfterMs' | 'waitMs'> = {},
  /** False for functions granted only GetItem on the accounts table (see readOnlyAccounts). */
  accountWrites = true,
): KommoDeps => {
  const state = stateStore(tables.state);
  const accountStore = new DynamoAccountStore(dynamoClient(), tables.accounts);
  return kommoServices({
    integration: cachedIntegration(new DynamoIntegrationStore(dynamoClient(), tables.kommo), () =>
      Date.now(),
    ),
    codes: new DynamoInstallCodeStore(dynamoClient(), tables.kommo),
    installations: new DynamoInstallationStore(dynamoClient(), tables.kommo),
    accounts: accountWrites ? accountStore : readOnlyAccounts(accountStore),
    agents: state,
    connections: state,
    closer: callbackUrl ? pusher(callbackUrl) : noConnectionCloser,
    clock: systemClock,
    logger: jsonLogger(service),
    apiOrigin: readKommoApiOrigin(process.env),
    ...tuning,
  });
};
