import { makeConnectHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { emfMetrics } from '../metrics';
import { systemClock } from '../ports';
import { environment, pusher, stateStore } from './wiring';

const env = environment('connect');

export const handler = makeConnectHandler({
  connections: stateStore(env.STATE_TABLE),
  closer: pusher(env.WS_CALLBACK_URL),
  clock: systemClock,
  logger: jsonLogger('connect'),
  metrics: emfMetrics('connect'),
});
