import { makeTicketsHandler } from '../handlers/tickets';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, environment, stateStore } from './wiring';

const env = environment(['STATE_TABLE', 'ACCOUNTS_TABLE', 'WS_URL']);

export const handler = makeTicketsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  tickets: stateStore(env.STATE_TABLE),
  clock: systemClock,
  logger: jsonLogger('tickets'),
  webSocketUrl: env.WS_URL,
});
