/**
 * The hourly job: exchange codes whose exchange was lost, refresh tokens before they expire (and idle ones
 * at least monthly), re-read each account's widget settings every 6 hours, and remove accounts disabled over
 * 30 days ago.
 * One account's failure never stops the others.
 */
import { kommoErrorCode } from '../kommo/errors';
import type { Installation } from '../kommo/ports';
import { refreshNeededOnSchedule } from '../kommo/tokens-policy';
import type { KommoDeps } from './kommo-deps';
import { completeInstall } from './kommo-install';
import { syncAgentSettings } from './kommo-settings';

/**
 * Settings are re-read on a schedule only every 6 hours: an admin's save re-reads at once anyway, and Kommo
 * restricts IPs that request the same data over and over (kommo-server.md §8.1).
 */
export const SETTINGS_SYNC_EVERY_MS = 6 * 3600_000;

/** A code younger than this is probably being exchanged right now by the function the redirect invoked. */
export const SWEEP_CODES_AFTER_MS = 30_000;

export interface MaintenanceSummary {
  codes: number;
  refreshed: number;
  synced: number;
  purged: number;
  needsReauth: number;
  failures: number;
}

export const runMaintenance = async (deps: KommoDeps): Promise<MaintenanceSummary> => {
  const summary: MaintenanceSummary = {
    codes: 0,
    refreshed: 0,
    synced: 0,
    purged: 0,
    needsReauth: 0,
    failures: 0,
  };
  const now = deps.clock.now();
  for (const pending of await deps.codes.pendingCodes()) {
    if (now - pending.receivedAt < SWEEP_CODES_AFTER_MS) continue;
    const outcome = await completeInstall(deps, pending.id);
    if (outcome.status === 'installed') summary.codes++;
    if (outcome.status === 'failed') summary.failures++;
  }
  for (const installation of await deps.installations.listInstallations()) {
    try {
      await maintainOne(deps, installation, summary);
    } catch (error) {
      summary.failures++;
      deps.logger.warn('kommo maintenance failed for an account', {
        accountId: installation.accountId,
        code: kommoErrorCode(error),
      });
    }
  }
  deps.logger.info('kommo maintenance done', { ...summary });
  return summary;
};

const maintainOne = async (deps: KommoDeps, installation: Installation, summary: MaintenanceSummary) => {
  const now = deps.clock.now();
  if (installation.status === 'disabled') {
    if (installation.purgeAfter !== undefined && installation.purgeAfter <= now) {
      const account = await deps.accounts.getAccount(installation.subdomain);
      if (account?.kommoAccountId === installation.accountId && account.status === 'disabled') {
        await deps.accounts.removeAccount(installation.subdomain);
        await deps.agents.putAgentMap(installation.subdomain, {}, 0, now);
      }
      await deps.installations.removeInstallation(installation.accountId);
      summary.purged++;
    }
    return;
  }
  if (installation.status !== 'active' || !installation.tokens) return;
  const need = refreshNeededOnSchedule(installation.tokens, now);
  if (need === 'dead') {
    await deps.tokens.accessToken(installation.accountId).catch(() => undefined);
    summary.needsReauth++;
    return;
  }
  if (need !== 'none' && (await deps.tokens.refresh(installation, `scheduled:${need}`))) summary.refreshed++;
  if (now - (installation.settingsSyncedAt ?? 0) >= SETTINGS_SYNC_EVERY_MS) {
    await syncAgentSettings(deps, installation);
    summary.synced++;
  }
};
