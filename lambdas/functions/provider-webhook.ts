import { makeProviderWebhookHandler } from '../handlers/provider-webhook';
import { jsonLogger } from '../logger';
import { emfMetrics } from '../metrics';
import { systemClock } from '../ports';
import { PROVIDERS } from '../providers';
import { accountLookup, crmQueue, environment, pusher, stateStore, tuning } from './wiring';

const env = environment('providerWebhook');

export const handler = makeProviderWebhookHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  providers: PROVIDERS,
  store: stateStore(env.STATE_TABLE),
  pusher: pusher(env.WS_CALLBACK_URL),
  clock: systemClock,
  logger: jsonLogger('provider-webhook'),
  metrics: emfMetrics('providerWebhook'),
  pushConcurrency: tuning.pushConcurrency,
  claimLeaseMs: tuning.claimLeaseMs,
  crm: crmQueue(env.CRM_QUEUE_URL),
});
