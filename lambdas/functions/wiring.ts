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

export const tuning = readTuning(process.env);

let dynamo: DynamoDBClient | undefined;
const dynamoClient = () => {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
};

export const stateStore = () => {
  const { STATE_TABLE } = requireEnv(process.env, ['STATE_TABLE']);
  return new DynamoStateStore(dynamoClient(), {
    tableName: STATE_TABLE,
    eventRetentionSeconds: tuning.eventRetentionSeconds,
  });
};

export const accountLookup = () => {
  const { ACCOUNTS_TABLE } = requireEnv(process.env, ['ACCOUNTS_TABLE']);
  return cachedAccountLookup(new DynamoAccountStore(dynamoClient(), ACCOUNTS_TABLE), systemClock);
};

export const pusher = () => {
  const { WS_CALLBACK_URL } = requireEnv(process.env, ['WS_CALLBACK_URL']);
  // maxAttempts covers LimitExceededException (throttling); the pusher's abort signal bounds the total.
  return new ApiGatewayPusher(
    new ApiGatewayManagementApiClient({ endpoint: WS_CALLBACK_URL, maxAttempts: 4 }),
    tuning.pushTimeoutMs,
  );
};
