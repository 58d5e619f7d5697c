/**
 * Production wiring: SDK clients and adapters built once per container, from validated environment.
 * Only this folder touches `process.env` and constructs AWS clients.
 */
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiGatewayPusher } from '../adapters/apigw-pusher';
import { cachedAccountLookup, DynamoAccountStore } from '../adapters/dynamo-accounts';
import { DynamoStateStore } from '../adapters/dynamo-state';
import { readTuning, requireEnv } from '../config';
import { systemClock } from '../ports';

export type EnvName = 'STATE_TABLE' | 'ACCOUNTS_TABLE' | 'WS_CALLBACK_URL' | 'WS_URL';

/** Every variable a function needs, checked together so one error names all that are missing. */
export const environment = <K extends EnvName>(keys: readonly K[]) => requireEnv(process.env, keys);

export const tuning = readTuning(process.env);

let dynamo: DynamoDBClient | undefined;
const dynamoClient = () => {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
};

export const stateStore = (tableName: string) =>
  new DynamoStateStore(dynamoClient(), { tableName, eventRetentionSeconds: tuning.eventRetentionSeconds });

export const accountLookup = (tableName: string) =>
  cachedAccountLookup(new DynamoAccountStore(dynamoClient(), tableName), systemClock);

/** maxAttempts covers LimitExceededException (throttling); the pusher's abort signal bounds the total. */
export const pusher = (callbackUrl: string) =>
  new ApiGatewayPusher(
    new ApiGatewayManagementApiClient({ endpoint: callbackUrl, maxAttempts: 4 }),
    tuning.pushTimeoutMs,
  );
