import { requireEnv } from '../config';
import { makeTicketsHandler } from '../handlers/tickets';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, stateStore } from './wiring';

export const handler = makeTicketsHandler({
  account: accountLookup(),
  tickets: stateStore(),
  clock: systemClock,
  logger: jsonLogger('tickets'),
  webSocketUrl: requireEnv(process.env, ['WS_URL']).WS_URL,
});
