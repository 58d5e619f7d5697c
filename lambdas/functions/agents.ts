import { makeAgentsHandler } from '../handlers/agents';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { syncAccountSettings } from '../usecases/kommo-settings';
import { accountLookup, environment, kommo, stateStore } from './wiring';

const env = environment('agents');
// An admin's save waits on this, inside the function's 10 s: no retries here (the scheduled job retries),
// and a 429 asking for more than 2 s fails the save with "synced again within 6 hours".
const deps = kommo(
  { kommo: env.KOMMO_TABLE, accounts: env.ACCOUNTS_TABLE, state: env.STATE_TABLE },
  'agents',
  undefined,
  {
    timeoutMs: 2500,
    retry: { retries: 0, minDelayMs: 0, maxDelayMs: 0 },
    maxRetryAfterMs: 2000,
    waitMs: 3000,
  },
);

export const handler = makeAgentsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  agents: stateStore(env.STATE_TABLE),
  syncFromKommo: (accountId, subdomain) => syncAccountSettings(deps, accountId, subdomain),
  clock: systemClock,
  logger: jsonLogger('agents'),
});
