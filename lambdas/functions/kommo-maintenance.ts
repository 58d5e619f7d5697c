/** Hourly (EventBridge Scheduler): lost exchanges, token refresh, settings sync, purge of disabled accounts. */
import { runMaintenance } from '../usecases/kommo-maintenance';
import { environment, kommo } from './wiring';

const env = environment('kommoMaintenance');
const deps = kommo(
  { kommo: env.KOMMO_TABLE, accounts: env.ACCOUNTS_TABLE, state: env.STATE_TABLE },
  'kommo-maintenance',
);

export const handler = () => runMaintenance(deps);
