import { makeConnectHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { environment, stateStore } from './wiring';

const env = environment('connect');

export const handler = makeConnectHandler({
  connections: stateStore(env.STATE_TABLE),
  clock: systemClock,
  logger: jsonLogger('connect'),
});
