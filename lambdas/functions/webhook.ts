import { makeWebhookHandler } from '../handlers/webhook';
import { jsonLogger } from '../logger';
import { emfMetrics } from '../metrics';
import { systemClock } from '../ports';
import { accountLookup, crmQueue, environment, pusher, stateStore, tuning } from './wiring';

const env = environment('webhook');

export const handler = makeWebhookHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  store: stateStore(env.STATE_TABLE),
  pusher: pusher(env.WS_CALLBACK_URL),
  clock: systemClock,
  logger: jsonLogger('webhook'),
  metrics: emfMetrics('webhook'),
  pushConcurrency: tuning.pushConcurrency,
  claimLeaseMs: tuning.claimLeaseMs,
  crm: crmQueue(env.CRM_QUEUE_URL),
});
