/** Invoked asynchronously by the redirect function with `{ codeId }`: exchanges one stored code. */
import * as v from 'valibot';
import { completeInstall, type InstallOutcome } from '../usecases/kommo-install';
import { environment, kommo } from './wiring';

const env = environment('kommoInstall');
const deps = kommo(
  { kommo: env.KOMMO_TABLE, accounts: env.ACCOUNTS_TABLE, state: env.STATE_TABLE },
  'kommo-install',
);

const Event = v.object({ codeId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/)) });

export const handler = async (event: unknown): Promise<InstallOutcome> => {
  const parsed = v.safeParse(Event, event);
  if (!parsed.success) {
    deps.logger.warn('kommo install invoked without a code id');
    return { status: 'failed', reason: 'invalid event', final: true };
  }
  return completeInstall(deps, parsed.output.codeId);
};
