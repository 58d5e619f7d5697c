/** Account lifecycle rules, shared by the accounts CLI, the local stack and the tests. */

import type { ProviderCredentials } from '../ports';
import { KOMMO_DOMAINS } from './auth';
import { HttpProblem } from './problem';
import { isWebhookSecret, newWebhookSecret } from './webhook-signature';

export interface AccountRecord {
  subdomain: string;
  domain: string;
  integrationId: string;
  clientSecret: string;
  webhookSecrets: { secret: string; createdAt: number; expiresAt?: number }[];
  createdAt: number;
  providers?: ProviderCredentials;
  kommoAccountId?: number;
  status?: 'active' | 'needs_reauth' | 'disabled';
  disabledAt?: number;
}

/** How long the previous webhook secret keeps working after a rotation, so the phone system can be switched. */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 3600_000;

export const SUBDOMAIN = /^[a-z0-9-]{1,63}$/;

export const newAccount = (
  input: {
    subdomain: string;
    domain?: string;
    integrationId: string;
    clientSecret: string;
    webhookSecret?: string;
  },
  nowMs: number,
): AccountRecord => {
  const subdomain = input.subdomain.trim().toLowerCase();
  if (!SUBDOMAIN.test(subdomain))
    throw new HttpProblem(
      400,
      'invalid_body',
      `subdomain: expected [a-z0-9-]{1,63}, got "${input.subdomain}"`,
    );
  const domain = (input.domain ?? 'kommo.com').toLowerCase();
  if (!(KOMMO_DOMAINS as readonly string[]).includes(domain)) {
    throw new HttpProblem(
      400,
      'invalid_body',
      `domain: expected one of ${KOMMO_DOMAINS.join(', ')}, got "${domain}"`,
    );
  }
  if (!input.integrationId.trim()) throw new HttpProblem(400, 'invalid_body', 'integrationId: required');
  if (input.clientSecret.trim().length < 16) {
    throw new HttpProblem(
      400,
      'invalid_body',
      'clientSecret: expected the integration secret key (16+ characters)',
    );
  }
  const webhookSecret = input.webhookSecret ?? newWebhookSecret();
  if (!isWebhookSecret(webhookSecret)) {
    throw new HttpProblem(
      400,
      'invalid_body',
      'webhookSecret: expected whsec_ followed by base64 (16+ characters)',
    );
  }
  return {
    subdomain,
    domain,
    integrationId: input.integrationId.trim(),
    clientSecret: input.clientSecret.trim(),
    webhookSecrets: [{ secret: webhookSecret, createdAt: nowMs }],
    createdAt: nowMs,
  };
};

/** A new current secret; the old ones expire after the grace period (0 = at once). */
export const rotateWebhookSecret = (
  account: AccountRecord,
  nowMs: number,
  graceMs = DEFAULT_ROTATION_GRACE_MS,
  secret = newWebhookSecret(),
): AccountRecord => ({
  ...account,
  webhookSecrets: [
    { secret, createdAt: nowMs },
    ...account.webhookSecrets
      .filter((s) => s.expiresAt === undefined || s.expiresAt > nowMs)
      .map((s) => ({ ...s, expiresAt: Math.min(s.expiresAt ?? Number.POSITIVE_INFINITY, nowMs + graceMs) })),
  ],
});

/** The account with one provider's webhook credentials set (replacing any earlier ones for that provider). */
export const connectProvider = <P extends keyof ProviderCredentials>(
  account: AccountRecord,
  provider: P,
  credentials: NonNullable<ProviderCredentials[P]>,
): AccountRecord => ({ ...account, providers: { ...account.providers, [provider]: credentials } });

/** The URL a provider is given: the API's base URL, then /webhooks/{subdomain}/{provider}. */
export const providerWebhookUrl = (apiUrl: string, subdomain: string, provider: string): string =>
  `${apiUrl.replace(/\/$/, '')}/webhooks/${subdomain}/${provider}`;

/** What `accounts list` prints: never a secret, only enough of it to tell two apart. */
export const describeAccount = (account: AccountRecord, nowMs: number) => ({
  subdomain: account.subdomain,
  domain: account.domain,
  integrationId: account.integrationId,
  ...(account.kommoAccountId !== undefined
    ? { kommoAccountId: account.kommoAccountId, status: account.status ?? 'active' }
    : {}),
  createdAt: new Date(account.createdAt).toISOString(),
  webhookSecrets: account.webhookSecrets.map((s) => ({
    hint: `${s.secret.slice(0, 10)}…`,
    createdAt: new Date(s.createdAt).toISOString(),
    ...(s.expiresAt ? { expires: new Date(s.expiresAt).toISOString(), expired: s.expiresAt <= nowMs } : {}),
  })),
  ...(account.providers ? { providers: Object.keys(account.providers).sort() } : {}),
});
