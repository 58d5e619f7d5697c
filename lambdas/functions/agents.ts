import { makeAgentsHandler } from '../handlers/agents';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { syncAccountSettings } from '../usecases/kommo-settings';
import { accountLookup, environment, kommo, stateStore } from './wiring';

const env = environment(['STATE_TABLE', 'ACCOUNTS_TABLE', 'KOMMO_TABLE']);
const deps = kommo(
  { kommo: env.KOMMO_TABLE, accounts: env.ACCOUNTS_TABLE, state: env.STATE_TABLE },
  'agents',
);

export const handler = makeAgentsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  agents: stateStore(env.STATE_TABLE),
  syncFromKommo: (accountId, subdomain) => syncAccountSettings(deps, accountId, subdomain),
  clock: systemClock,
  logger: jsonLogger('agents'),
});
