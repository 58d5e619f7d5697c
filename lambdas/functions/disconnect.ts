import { makeDisconnectHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { environment, stateStore } from './wiring';

const env = environment(['STATE_TABLE']);

export const handler = makeDisconnectHandler({
  connections: stateStore(env.STATE_TABLE),
  logger: jsonLogger('disconnect'),
});
