import { makeAgentsHandler } from '../handlers/agents';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, environment, stateStore } from './wiring';

const env = environment('agents');

export const handler = makeAgentsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  agents: stateStore(env.STATE_TABLE),
  clock: systemClock,
  logger: jsonLogger('agents'),
});
