/**
 * Access tokens for an account, refreshed with one writer at a time: a refresh takes the account's lease
 * (a conditional write on the stored refresh token), so two functions never spend the same refresh token;
 * the loser waits for the winner's tokens. A refresh whose answer was lost is simply retried with the same
 * refresh token, which Kommo keeps valid until the new one is used.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../ports';
import { KommoError, kommoErrorCode } from './errors';
import type { Installation, InstallationStore, Integration } from './ports';
import type { TokenEndpoint } from './token-endpoint';
import { REFRESH_LEASE_MS, refreshNeededForUse, type TokenSet } from './tokens-policy';

export interface AccessToken {
  accessToken: string;
  /** Host the account's API lives on. */
  baseDomain: string;
}

export interface TokenServiceDeps {
  installations: InstallationStore;
  integration: () => Promise<Integration | undefined>;
  endpoint: TokenEndpoint;
  /** `https://{baseDomain}`, or KOMMO_API_ORIGIN for every account. */
  originFor: (baseDomain: string) => string;
  /** Called once an account can no longer get tokens (revoked, refresh token dead): the account is flagged. */
  onNeedsReauth: (installation: Installation, reason: string) => Promise<void>;
  now: () => number;
  logger: Logger;
  leaseMs?: number;
  /** How often a waiting caller looks for the lease holder's new tokens. */
  pollMs?: number;
  /** How long a caller waits for another writer's refresh; request paths wait less than the lease. */
  waitMs?: number;
  owner?: string;
}

export class TokenService {
  private readonly owner: string;
  private readonly leaseMs: number;

  constructor(private readonly deps: TokenServiceDeps) {
    this.owner = deps.owner ?? randomUUID();
    this.leaseMs = deps.leaseMs ?? REFRESH_LEASE_MS;
  }

  /**
   * A usable access token. `rejected` is a token Kommo just answered 401 to: then a newer one is returned,
   * refreshing if nobody has yet.
   * @throws KommoError not_installed | revoked | timeout | …
   */
  async accessToken(accountId: number, rejected?: string): Promise<AccessToken> {
    const deadline = this.deps.now() + (this.deps.waitMs ?? this.leaseMs + 5_000);
    for (;;) {
      const installation = await this.deps.installations.getInstallation(accountId);
      if (installation?.status !== 'active' || !installation.tokens) {
        throw new KommoError('not_installed', `account ${accountId} has no active installation`);
      }
      const { tokens } = installation;
      const need = refreshNeededForUse(tokens, this.deps.now());
      const stale = rejected !== undefined && tokens.accessToken === rejected;
      if (need === 'dead') {
        await this.needsReauth(
          installation,
          tokens.longLived
            ? 'the long-lived token expired'
            : 'the refresh token expired (unused for 3 months)',
        );
        throw new KommoError('revoked', `account ${accountId}: refresh token expired`);
      }
      if (need === 'none' && !stale)
        return { accessToken: tokens.accessToken, baseDomain: installation.baseDomain };
      if (tokens.longLived) {
        // Nothing to refresh with: a refused long-lived token was revoked in Kommo.
        await this.needsReauth(installation, 'Kommo refuses the long-lived token');
        throw new KommoError('revoked', `account ${accountId}: long-lived token refused`);
      }
      const fresh = await this.refresh(installation, stale ? 'rejected' : 'expiring');
      if (fresh) return { accessToken: fresh.accessToken, baseDomain: installation.baseDomain };
      if (this.deps.now() > deadline) {
        throw new KommoError('timeout', `account ${accountId}: another refresh did not finish in time`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.deps.pollMs ?? 200));
    }
  }

  /**
   * Refresh under the lease. Undefined when another writer holds it (or already rotated the token): the
   * caller reads the store again.
   */
  async refresh(installation: Installation, reason: string): Promise<TokenSet | undefined> {
    const { accountId, tokens } = installation;
    if (!tokens || tokens.longLived) return undefined;
    const leased = await this.deps.installations.leaseRefresh(
      accountId,
      this.owner,
      tokens.refreshToken,
      this.deps.now(),
      this.leaseMs,
    );
    if (!leased) return undefined;
    let fresh: TokenSet;
    try {
      const integration = await this.deps.integration();
      if (!integration) throw new KommoError('not_installed', 'no Kommo integration is configured');
      fresh = await this.deps.endpoint.grant(this.deps.originFor(installation.baseDomain), integration, {
        kind: 'refresh',
        refreshToken: tokens.refreshToken,
      });
    } catch (error) {
      await this.deps.installations.releaseLease(accountId, this.owner);
      if (error instanceof KommoError && error.code === 'revoked') {
        // Our lease may have run out while Kommo was slow, and another writer rotated the token: then
        // "revoked" only means we lost the race, not that the installation is gone.
        const now = await this.deps.installations.getInstallation(accountId);
        if (now?.tokens?.refreshToken !== tokens.refreshToken) return undefined;
        await this.needsReauth(installation, 'Kommo revoked the integration’s access', tokens.refreshToken);
      }
      this.deps.logger.warn('kommo token refresh failed', {
        accountId,
        reason,
        code: kommoErrorCode(error),
      });
      throw error;
    }
    const stored = await this.deps.installations.completeRefresh(
      accountId,
      tokens.refreshToken,
      fresh,
      this.deps.now(),
    );
    // The lease ran out under us and someone else refreshed: our pair is valid but theirs is the one kept.
    if (!stored) {
      this.deps.logger.warn('kommo token refresh lost the race', { accountId });
      return undefined;
    }
    this.deps.logger.info('kommo tokens refreshed', { accountId, reason });
    return fresh;
  }

  /** Kommo refused a token that was just refreshed: the installation is revoked. */
  async rejected(accountId: number): Promise<void> {
    const installation = await this.deps.installations.getInstallation(accountId);
    if (installation) await this.needsReauth(installation, 'Kommo refuses the integration’s access token');
  }

  private async needsReauth(installation: Installation, reason: string, refreshToken?: string) {
    const marked = await this.deps.installations.markNeedsReauth(
      installation.accountId,
      reason,
      this.deps.now(),
      refreshToken,
    );
    if (marked) await this.deps.onNeedsReauth(installation, reason);
  }
}
