import { makeDisableHookHandler } from '../handlers/oauth';
import { jsonLogger } from '../logger';
import { disableInstallation } from '../usecases/kommo-disable';
import { environment, kommo } from './wiring';

const env = environment('oauthDisabled');
const deps = kommo(
  { kommo: env.KOMMO_TABLE, accounts: env.ACCOUNTS_TABLE, state: env.STATE_TABLE },
  'oauth-disabled',
  env.WS_CALLBACK_URL,
);

export const handler = makeDisableHookHandler({
  integration: deps.integration,
  disable: (accountId) => disableInstallation(deps, accountId),
  logger: jsonLogger('oauth-disabled'),
});
