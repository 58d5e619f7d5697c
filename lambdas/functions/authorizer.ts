import { makeAuthorizer } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { environment, stateStore } from './wiring';

const env = environment('authorizer');

export const handler = makeAuthorizer({
  tickets: stateStore(env.STATE_TABLE),
  clock: systemClock,
  logger: jsonLogger('authorizer'),
});
