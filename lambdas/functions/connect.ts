import { makeConnectHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { stateStore } from './wiring';

export const handler = makeConnectHandler({
  connections: stateStore(),
  clock: systemClock,
  logger: jsonLogger('connect'),
});
