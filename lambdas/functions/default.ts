import { makeDefaultHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { pusher, stateStore, tuning } from './wiring';

const store = stateStore();
export const handler = makeDefaultHandler({
  connections: store,
  events: store,
  calls: store,
  pusher: pusher(),
  clock: systemClock,
  logger: jsonLogger('default'),
  pushConcurrency: tuning.pushConcurrency,
});
