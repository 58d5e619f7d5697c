import { makeAgentsHandler } from '../handlers/agents';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, stateStore } from './wiring';

export const handler = makeAgentsHandler({
  account: accountLookup(),
  agents: stateStore(),
  clock: systemClock,
  logger: jsonLogger('agents'),
});
