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
import { FUNCTIONS, type FunctionName } from './manifest';

/** The variables the manifest declares for this function, checked together so one error names all missing. */
export const environment = <F extends FunctionName>(fn: F) =>
  requireEnv(process.env, FUNCTIONS[fn].env as (typeof FUNCTIONS)[F]['env']);

export const tuning = readTuning(process.env);

let dynamo: DynamoDBClient | undefined;
const dynamoClient = () => {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
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
