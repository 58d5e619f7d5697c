import { makeAuthorizer } from '../handlers/websocket';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { stateStore } from './wiring';

export const handler = makeAuthorizer({
  tickets: stateStore(),
  clock: systemClock,
  logger: jsonLogger('authorizer'),
});
