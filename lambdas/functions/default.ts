import { DynamoPopupAcks } from '../adapters/dynamo-popup-acks';
import { makeDefaultHandler } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { emfMetrics } from '../metrics';
import { systemClock } from '../ports';
import { dynamoClient, environment, pusher, stateStore, tuning } from './wiring';

const env = environment('default');
const store = stateStore(env.STATE_TABLE);
const management = pusher(env.WS_CALLBACK_URL);

export const handler = makeDefaultHandler({
  connections: store,
  rates: store,
  closer: management,
  index: store,
  calls: store,
  acks: new DynamoPopupAcks(dynamoClient(), env.STATE_TABLE),
  pusher: management,
  clock: systemClock,
  logger: jsonLogger('default'),
  metrics: emfMetrics('default'),
  pushConcurrency: tuning.pushConcurrency,
});
