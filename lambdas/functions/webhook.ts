import { makeWebhookHandler } from '../handlers/webhook';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { accountLookup, environment, pusher, stateStore, tuning } from './wiring';

const env = environment(['STATE_TABLE', 'ACCOUNTS_TABLE', 'WS_CALLBACK_URL']);

export const handler = makeWebhookHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  store: stateStore(env.STATE_TABLE),
  pusher: pusher(env.WS_CALLBACK_URL),
  clock: systemClock,
  logger: jsonLogger('webhook'),
  pushConcurrency: tuning.pushConcurrency,
  claimLeaseMs: tuning.claimLeaseMs,
});
