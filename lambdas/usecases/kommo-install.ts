/**
 * Installing Callbridge from Kommo. The redirect URI persists the code and answers at once (Kommo waits at
 * most 3 s and never resends); this use-case then exchanges the code (valid 20 minutes), finds which Kommo
 * account it belongs to, and provisions that account with its own webhook secret. It is idempotent per code:
 * a second run finds the code claimed or gone.
 */
import { createHash } from 'node:crypto';
import { newAccount } from '../core/accounts';
import { KommoError, kommoErrorCode } from '../kommo/errors';
import type { Installation, PendingInstall } from '../kommo/ports';
import type { RedirectQuery } from '../kommo/redirect';
import { parseAccount } from '../kommo/settings';
import { codeExpired } from '../kommo/tokens-policy';
import type { Account } from '../ports';
import type { KommoDeps } from './kommo-deps';
import { syncAgentSettings } from './kommo-settings';

/** Longer than one exchange with its retries; a worker that died mid-way frees the code after this. */
export const EXCHANGE_LEASE_MS = 60_000;

export const codeId = (code: string) => createHash('sha256').update(code).digest('base64url');

export const pendingInstallFrom = (
  grant: Extract<RedirectQuery, { kind: 'grant' }>,
  nowMs: number,
): PendingInstall => ({
  id: codeId(grant.code),
  code: grant.code,
  referer: grant.referer,
  subdomain: grant.subdomain,
  clientId: grant.clientId,
  fromWidget: grant.fromWidget,
  receivedAt: nowMs,
  attempts: 0,
  status: 'pending',
});

export type InstallOutcome =
  | {
      status: 'installed';
      accountId: number;
      subdomain: string;
      created: boolean;
      agents: number | undefined;
    }
  | { status: 'skipped' }
  | { status: 'failed'; reason: string; final: boolean };

export const completeInstall = async (deps: KommoDeps, id: string): Promise<InstallOutcome> => {
  const now = deps.clock.now();
  const pending = await deps.codes.claimCode(id, now, EXCHANGE_LEASE_MS);
  if (!pending) return { status: 'skipped' };
  const fail = async (reason: string, final: boolean): Promise<InstallOutcome> => {
    await deps.codes.failCode(id, reason, final, deps.clock.now());
    deps.logger.warn('kommo install failed', { subdomain: pending.subdomain, reason, final });
    return { status: 'failed', reason, final };
  };
  if (codeExpired(pending.receivedAt, now)) return fail('the authorization code expired (20 minutes)', true);
  const integration = await deps.integration();
  if (!integration)
    return fail('no Kommo integration is configured (npm run accounts -- integration)', false);
  if (pending.clientId !== integration.clientId) return fail('the code is for another integration', true);

  let tokens: Awaited<ReturnType<KommoDeps['endpoint']['grant']>>;
  let kommoAccount: { id: number; subdomain: string };
  try {
    tokens = await deps.endpoint.grant(deps.originFor(pending.referer), integration, {
      kind: 'code',
      code: pending.code,
    });
    kommoAccount = parseAccount(
      await deps.client.requestAs(
        { accessToken: tokens.accessToken, baseDomain: pending.referer },
        'GET',
        '/api/v4/account',
      ),
    );
  } catch (error) {
    if (error instanceof KommoError) return fail(`${error.code}: ${error.message}`, error.code === 'revoked');
    throw error;
  }

  const existing = await deps.accounts.getAccount(kommoAccount.subdomain);
  if (existing?.kommoAccountId !== undefined && existing.kommoAccountId !== kommoAccount.id) {
    return fail(`subdomain ${kommoAccount.subdomain} belongs to another Kommo account`, true);
  }
  if (existing && existing.kommoAccountId === undefined && existing.integrationId !== integration.clientId) {
    return fail(
      `subdomain ${kommoAccount.subdomain} is registered as a private integration; remove it first`,
      true,
    );
  }
  const previous = await deps.installations.getInstallation(kommoAccount.id);
  // Kommo lets an account change its subdomain; its account_id stays. The account moves to the new name with
  // its webhook secrets (the phone system needs the new webhook URL, shown in the widget's settings).
  const renamedFrom =
    !existing && previous && previous.subdomain !== kommoAccount.subdomain
      ? await deps.accounts.getAccount(previous.subdomain)
      : undefined;
  const moved = renamedFrom?.kommoAccountId === kommoAccount.id ? renamedFrom : undefined;
  const installation: Installation = {
    accountId: kommoAccount.id,
    subdomain: kommoAccount.subdomain,
    baseDomain: pending.referer,
    status: 'active',
    tokens,
    installedAt: previous?.installedAt ?? now,
    updatedAt: now,
  };
  await deps.installations.saveInstallation(installation);
  // Re-installation within the 30 days keeps the account and its webhook secret: the phone system keeps working.
  const base = existing ?? (moved ? { ...moved, subdomain: kommoAccount.subdomain } : undefined);
  const account: Account = base
    ? { ...base, integrationId: integration.clientId, clientSecret: integration.clientSecret }
    : newAccount(
        {
          subdomain: kommoAccount.subdomain,
          integrationId: integration.clientId,
          clientSecret: integration.clientSecret,
        },
        now,
      );
  account.kommoAccountId = kommoAccount.id;
  account.status = 'active';
  delete account.disabledAt;
  await deps.accounts.putAccount(account);
  if (moved && previous) {
    await deps.accounts.removeAccount(previous.subdomain);
    await deps.agents.putAgentMap(previous.subdomain, {}, 0, now);
    deps.logger.info('kommo account subdomain changed', { accountId: kommoAccount.id });
  }
  await deps.codes.finishCode(id);
  deps.logger.info('kommo account installed', {
    accountId: kommoAccount.id,
    subdomain: kommoAccount.subdomain,
    created: !existing,
    fromWidget: pending.fromWidget,
  });

  let agents: number | undefined;
  try {
    agents = Object.keys((await syncAgentSettings(deps, installation)).map).length;
  } catch (error) {
    // The hourly job syncs again; an install without settings yet is still an install.
    deps.logger.warn('kommo settings sync after install failed', {
      accountId: kommoAccount.id,
      code: kommoErrorCode(error),
    });
  }
  return {
    status: 'installed',
    accountId: kommoAccount.id,
    subdomain: kommoAccount.subdomain,
    created: !existing,
    agents,
  };
};
