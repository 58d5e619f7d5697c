import { makeTicketsHandler } from '../handlers/tickets';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, environment, stateStore } from './wiring';

const env = environment('tickets');
const store = stateStore(env.STATE_TABLE);

export const handler = makeTicketsHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  tickets: store,
  rates: store,
  events: store,
  clock: systemClock,
  logger: jsonLogger('tickets'),
  webSocketUrl: env.WS_URL,
});
