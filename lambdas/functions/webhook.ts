import { makeWebhookHandler } from '../handlers/webhook';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, pusher, stateStore, tuning } from './wiring';

export const handler = makeWebhookHandler({
  account: accountLookup(),
  store: stateStore(),
  pusher: pusher(),
  clock: systemClock,
  logger: jsonLogger('webhook'),
  pushConcurrency: tuning.pushConcurrency,
});
