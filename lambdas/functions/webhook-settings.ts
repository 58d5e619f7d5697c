import { DynamoAccountStore } from '../adapters/dynamo-accounts';
import { makeWebhookSettingsHandler } from '../handlers/webhook-settings';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, dynamoClient, environment } from './wiring';

const env = environment('webhookSettings');

export const handler = makeWebhookSettingsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  accounts: new DynamoAccountStore(dynamoClient(), env.ACCOUNTS_TABLE),
  clock: systemClock,
  logger: jsonLogger('webhook-settings'),
});
