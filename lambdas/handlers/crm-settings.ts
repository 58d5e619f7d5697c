import { type AccountSecrets, verifyKommoToken } from '../core/auth';
import { HttpProblem } from '../core/problem';
import type { CrmLedger } from '../crm/ports';
import { CrmSettingsPatchSchema, DEFAULT_CRM_SETTINGS, mergeSettings } from '../crm/settings';
import type { AccountStore, Clock, Logger } from '../ports';
import { type HttpHandler, header, json, readJsonBody, withProblems } from './http';

export interface CrmSettingsDeps {
  account: (subdomain: string) => Promise<AccountSecrets | undefined>;
  accounts: Pick<AccountStore, 'getAccount'>;
  ledger: Pick<CrmLedger, 'getSettings' | 'putSettings' | 'failures'>;
  clock: Clock;
  logger: Logger;
}

const MAX_BODY_BYTES = 4096;

export const failureLine = (count: number, reason: string | undefined): string | undefined =>
  count === 0
    ? undefined
    : `${count} ${count === 1 ? 'call' : 'calls'} could not be logged${reason ? `: ${reason}` : ''}`;

export const makeCrmSettingsHandler = (deps: CrmSettingsDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const method = event.requestContext.http.method;
    if (method !== 'GET' && method !== 'PUT') {
      throw new HttpProblem(405, 'method_not_allowed', 'use GET or PUT /settings/crm', undefined, {
        allow: 'GET, PUT',
      });
    }
    const identity = await verifyKommoToken(
      header(event, 'x-auth-token'),
      deps.account,
      new Date(deps.clock.now()),
    );
    if (!identity.isAdmin) {
      throw new HttpProblem(
        403,
        'forbidden',
        'only a Kommo account administrator may see or change these settings',
      );
    }
    const account = await deps.accounts.getAccount(identity.subdomain);
    if (account?.kommoAccountId === undefined) {
      throw new HttpProblem(
        409,
        'conflict',
        `account "${identity.subdomain}" has not installed the Kommo integration; calls cannot reach the CRM`,
      );
    }
    const accountId = account.kommoAccountId;
    let settings = (await deps.ledger.getSettings(accountId)) ?? DEFAULT_CRM_SETTINGS;
    if (method === 'PUT') {
      settings = mergeSettings(settings, readJsonBody(event, MAX_BODY_BYTES, CrmSettingsPatchSchema));
      await deps.ledger.putSettings(accountId, settings);
      deps.logger.info('crm settings changed by admin', {
        subdomain: identity.subdomain,
        by: identity.userId,
      });
    }
    const failures = await deps.ledger.failures(accountId);
    return json(200, {
      settings,
      failures: {
        count: failures.count,
        ...(failures.reason ? { reason: failures.reason } : {}),
        ...(failures.at ? { at: new Date(failures.at).toISOString() } : {}),
        ...(failureLine(failures.count, failures.reason)
          ? { message: failureLine(failures.count, failures.reason) }
          : {}),
      },
    });
  });
