/**
 * Kommo says the integration was disabled (or access revoked) for an account: tokens go, the account stops
 * taking webhooks (410) and sockets, and its data waits 30 days for a re-installation before it is removed.
 */
import type { Installation } from '../kommo/ports';
import type { KommoDeps } from './kommo-deps';

export const RETAIN_AFTER_DISABLE_MS = 30 * 86_400_000;

export const disableInstallation = async (
  deps: Pick<KommoDeps, 'installations' | 'accounts' | 'connections' | 'closer' | 'clock' | 'logger'>,
  accountId: number,
): Promise<{ status: 'disabled'; subdomain: string; socketsClosed: number } | { status: 'unknown' }> => {
  const now = deps.clock.now();
  const installation = await deps.installations.disable(accountId, now, now + RETAIN_AFTER_DISABLE_MS);
  if (!installation) return { status: 'unknown' };
  const { subdomain } = installation;
  const account = await deps.accounts.getAccount(subdomain);
  if (account && account.kommoAccountId === accountId) {
    await deps.accounts.putAccount({ ...account, status: 'disabled', disabledAt: now });
  }
  const sockets = await deps.connections.connectionsOf(
    subdomain,
    await deps.connections.connectedUsers(subdomain),
    now,
  );
  await Promise.all(
    sockets.map(async (c) => {
      await deps.closer.close(c.connectionId);
      await deps.connections.removeConnection(c.connectionId);
    }),
  );
  deps.logger.info('kommo account disabled', { accountId, subdomain, socketsClosed: sockets.length });
  return { status: 'disabled', subdomain, socketsClosed: sockets.length };
};

/** The account is flagged so the widget tells admins, once, to install again. */
export const flagNeedsReauth = async (
  deps: Pick<KommoDeps, 'accounts' | 'logger'>,
  installation: Pick<Installation, 'accountId' | 'subdomain'>,
  reason: string,
): Promise<void> => {
  const account = await deps.accounts.getAccount(installation.subdomain);
  if (account && account.kommoAccountId === installation.accountId && account.status !== 'disabled') {
    await deps.accounts.putAccount({ ...account, status: 'needs_reauth' });
  }
  deps.logger.warn('kommo account needs re-authorization', { accountId: installation.accountId, reason });
};
