/**
 * What the Kommo side of Callbridge needs from storage, in our terms. The DynamoDB adapters live in
 * lambdas/adapters/dynamo-{integration,install-codes,installations}.ts, all in one KMS-encrypted table.
 */
import type { TokenSet } from './tokens-policy';

/** The deployment's one Kommo integration, set once by `npm run accounts -- integration`. */
export interface Integration {
  /** Kommo's "Integration ID" (client_id / client_uuid). */
  clientId: string;
  /** Kommo's "Secret key" (client_secret): signs disposable tokens and the disable hook. */
  clientSecret: string;
  /** Exactly the Redirect URI entered in the integration; the token endpoint compares it. */
  redirectUri: string;
  /** The widget's code, for `GET /api/v4/widgets/{code}`. */
  widgetCode: string;
  updatedAt: number;
}

export interface IntegrationStore {
  getIntegration(): Promise<Integration | undefined>;
  putIntegration(integration: Integration): Promise<void>;
}

/** An authorization code as the redirect URI received it, kept until it has been exchanged. */
export interface PendingInstall {
  /** sha256 of the code: the key, so a listing of keys reveals no code. */
  id: string;
  code: string;
  /** `{subdomain}.kommo.com`: where the code is exchanged. */
  referer: string;
  subdomain: string;
  clientId: string;
  fromWidget: boolean;
  receivedAt: number;
  attempts: number;
  status: 'pending' | 'failed' | 'done';
  failure?: string;
  /** Epoch ms until which one worker holds it for the exchange. */
  leaseUntil?: number;
}

export interface InstallCodeStore {
  /** Persist a received code; false when this code is stored already (a repeated redirect). */
  saveCode(pending: PendingInstall): Promise<boolean>;
  /** Take a pending code for exchange; undefined when it is gone, failed, or held by another worker. */
  claimCode(id: string, nowMs: number, leaseMs: number): Promise<PendingInstall | undefined>;
  /** Exchanged: the code itself is forgotten; the record remembers it was done (a repeated redirect). */
  finishCode(id: string): Promise<void>;
  /** A failure worth another attempt gives the claim back; a final one keeps the record for support. */
  failCode(id: string, reason: string, final: boolean, nowMs: number): Promise<void>;
  /** Codes still waiting (the scheduled sweep picks up any whose exchange was lost). */
  pendingCodes(): Promise<PendingInstall[]>;
}

export type InstallationStatus = 'active' | 'needs_reauth' | 'disabled';

/** One Kommo account's installation of the integration, keyed by Kommo's account_id (the subdomain can change). */
export interface Installation {
  accountId: number;
  subdomain: string;
  /** Host the tokens were issued on, `{subdomain}.kommo.com`: the API origin for this account. */
  baseDomain: string;
  status: InstallationStatus;
  /** Absent once disabled: tokens are deleted, not kept. */
  tokens?: TokenSet;
  installedAt: number;
  updatedAt: number;
  /** Why the account needs re-authorization, for the admin's message. */
  reason?: string;
  disabledAt?: number;
  /** Epoch ms after which a disabled installation's data is removed (30 days: re-installation keeps it). */
  purgeAfter?: number;
  settingsSyncedAt?: number;
  /** A private integration's own widget code (accounts added with --long-lived-token); else the integration's. */
  widgetCode?: string;
}

export interface InstallationStore {
  getInstallation(accountId: number): Promise<Installation | undefined>;
  /** Install or re-install: replaces tokens and status, and frees any refresh lease. */
  saveInstallation(installation: Installation): Promise<void>;
  /**
   * Take the account's refresh lease: only if nobody holds it (or the holder's lease ran out) and the
   * stored refresh token is still `refreshToken`. One writer at a time uses a refresh token.
   */
  leaseRefresh(
    accountId: number,
    owner: string,
    refreshToken: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<boolean>;
  /**
   * Store refreshed tokens if the stored refresh token is still the one `used` for them (nobody stored a
   * rotation meanwhile), and free the lease; false when another writer got there first. Conditioning on the
   * token rather than on the lease's owner means the first writer to finish wins even after its lease ran
   * out, so a Kommo slower than the lease cannot livelock the writers.
   */
  completeRefresh(accountId: number, used: string, tokens: TokenSet, nowMs: number): Promise<boolean>;
  releaseLease(accountId: number, owner: string): Promise<void>;
  /**
   * Flag an active installation; with `refreshToken`, only while that is still the stored one (a writer that
   * rotated it meanwhile proves the installation alive). False when nothing was flagged.
   */
  markNeedsReauth(accountId: number, reason: string, nowMs: number, refreshToken?: string): Promise<boolean>;
  /** Turn the installation off: tokens deleted, status disabled, data kept until `purgeAfter`. */
  disable(accountId: number, nowMs: number, purgeAfter: number): Promise<Installation | undefined>;
  markSettingsSynced(accountId: number, nowMs: number): Promise<void>;
  listInstallations(): Promise<Installation[]>;
  removeInstallation(accountId: number): Promise<void>;
}
