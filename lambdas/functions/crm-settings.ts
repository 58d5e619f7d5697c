/** GET/PUT /settings/crm: what calls do in Kommo, for the account's admins. */
import { DynamoAccountStore } from '../adapters/dynamo-accounts';
import { DynamoCrmLedger } from '../adapters/dynamo-crm-ledger';
import { makeCrmSettingsHandler } from '../handlers/crm-settings';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, dynamoClient, environment } from './wiring';

const env = environment('crmSettings');

export const handler = makeCrmSettingsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  accounts: new DynamoAccountStore(dynamoClient(), env.ACCOUNTS_TABLE),
  ledger: new DynamoCrmLedger(dynamoClient(), env.KOMMO_TABLE),
  clock: systemClock,
  logger: jsonLogger('crm-settings'),
});
