/**
 * GET/PUT /settings/crm: the account's admins see and change what calls do in Kommo (leads, tasks, the bell,
 * the task delay, the duty user, the source name), and see what could not be logged ("3 calls could not be
 * logged: token revoked").
 */
import * as v from 'valibot';
import { type AccountSecrets, verifyKommoToken } from '../core/auth';
import { HttpProblem } from '../core/problem';
import { describeIssues } from '../core/protocol';
import type { CrmLedger } from '../crm/ports';
import { CrmSettingsPatchSchema, DEFAULT_CRM_SETTINGS, mergeSettings } from '../crm/settings';
import type { AccountStore, Clock, Logger } from '../ports';
import { type HttpHandler, header, isJsonContentType, json, parseJson, rawBody, withProblems } from './http';

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
      const body = rawBody(event);
      if (body.byteLength > MAX_BODY_BYTES) {
        throw new HttpProblem(
          413,
          'payload_too_large',
          `body is ${body.byteLength} bytes; at most ${MAX_BODY_BYTES}`,
        );
      }
      if (!isJsonContentType(header(event, 'content-type'))) {
        throw new HttpProblem(415, 'unsupported_media_type', 'content-type: expected application/json');
      }
      const parsed = v.safeParse(CrmSettingsPatchSchema, parseJson(body.toString('utf8')));
      if (!parsed.success) {
        const issues = describeIssues(parsed.issues);
        throw new HttpProblem(400, 'invalid_body', `${issues[0]?.field}: ${issues[0]?.message}`, issues);
      }
      settings = mergeSettings(settings, parsed.output);
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
