import { makeDisconnectHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { environment, stateStore } from './wiring';

const env = environment('disconnect');

export const handler = makeDisconnectHandler({
  connections: stateStore(env.STATE_TABLE),
  logger: jsonLogger('disconnect'),
});
