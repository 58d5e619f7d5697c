/**
 * GET/POST /settings/webhook: for the account's Kommo admins only, the URL and secret their phone system
 * needs. GET shows the URL and a hint of the secret; `?reveal=1` shows the secret on request; POST rotates it
 * (the old one keeps working for 24 h) and shows the new one once.
 */
import { rotateWebhookSecret } from '../core/accounts';
import { type AccountSecrets, verifyKommoToken } from '../core/auth';
import { HttpProblem } from '../core/problem';
import type { Account, AccountStore, Clock, Logger } from '../ports';
import { type HttpHandler, header, json, withProblems } from './http';

export interface WebhookSettingsDeps {
  account: (subdomain: string) => Promise<AccountSecrets | undefined>;
  accounts: Pick<AccountStore, 'getAccount' | 'putAccount'>;
  /** The HTTP API's public URL; defaults to the host the request came to. */
  publicUrl?: string;
  clock: Clock;
  logger: Logger;
}

export const makeWebhookSettingsHandler = (deps: WebhookSettingsDeps): HttpHandler =>
  withProblems(deps.logger, async (event) => {
    const method = event.requestContext.http.method;
    if (method !== 'GET' && method !== 'POST') {
      throw new HttpProblem(405, 'method_not_allowed', 'use GET or POST /settings/webhook', undefined, {
        allow: 'GET, POST',
      });
    }
    const now = deps.clock.now();
    const identity = await verifyKommoToken(header(event, 'x-auth-token'), deps.account, new Date(now));
    if (!identity.isAdmin) {
      throw new HttpProblem(
        403,
        'forbidden',
        'only a Kommo account administrator may see the webhook secret',
      );
    }
    let account: Account | undefined = await deps.accounts.getAccount(identity.subdomain);
    if (!account)
      throw new HttpProblem(404, 'unknown_account', `account "${identity.subdomain}" is not registered`);
    const base = (deps.publicUrl ?? `https://${event.requestContext.domainName}`).replace(/\/+$/, '');
    const url = `${base}/webhooks/${account.subdomain}`;
    let reveal = event.queryStringParameters?.reveal === '1';
    if (method === 'POST') {
      account = rotateWebhookSecret(account, now);
      await deps.accounts.putAccount(account);
      reveal = true;
      deps.logger.info('webhook secret rotated by admin', {
        subdomain: account.subdomain,
        by: identity.userId,
      });
    }
    const current = account.webhookSecrets[0];
    return json(200, {
      url,
      secretHint: current ? `${current.secret.slice(0, 10)}…` : undefined,
      createdAt: current ? new Date(current.createdAt).toISOString() : undefined,
      ...(reveal && current ? { secret: current.secret } : {}),
      previous: account.webhookSecrets
        .slice(1)
        .filter((s) => s.expiresAt === undefined || s.expiresAt > now)
        .map((s) => ({
          hint: `${s.secret.slice(0, 10)}…`,
          expiresAt: s.expiresAt && new Date(s.expiresAt).toISOString(),
        })),
    });
  });
