import { makeProviderWebhookHandler } from '../handlers/provider-webhook';
import { jsonLogger } from '../logger';
import { systemClock } from '../ports';
import { PROVIDERS } from '../providers';
import { accountLookup, environment, pusher, stateStore, tuning } from './wiring';

const env = environment(['STATE_TABLE', 'ACCOUNTS_TABLE', 'WS_CALLBACK_URL']);

export const handler = makeProviderWebhookHandler({
  account: accountLookup(env.ACCOUNTS_TABLE),
  providers: PROVIDERS,
  store: stateStore(env.STATE_TABLE),
  pusher: pusher(env.WS_CALLBACK_URL),
  clock: systemClock,
  logger: jsonLogger('provider-webhook'),
  pushConcurrency: tuning.pushConcurrency,
  claimLeaseMs: tuning.claimLeaseMs,
});
