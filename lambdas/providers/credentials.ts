/**
 * Each provider's credentials as an admin enters them (`npm run accounts -- connect <provider> …`), checked
 * for shape so a pasted typo fails at connect time rather than as "bad signature" on the first call.
 */
import type { ProviderCredentials } from '../ports';
import type { ProviderName } from './port';
import { isTelnyxPublicKey } from './telnyx/verify';

/** The CLI flag for each credential, in the provider's own words. */
export const CREDENTIAL_FLAGS = {
  twilio: { authToken: 'auth-token' },
  telnyx: { publicKey: 'public-key' },
  vonage: { signatureSecret: 'signature-secret' },
  plivo: { authToken: 'auth-token' },
  zadarma: { apiKey: 'api-key', apiSecret: 'api-secret' },
} as const satisfies Record<ProviderName, Record<string, string>>;

const rules: Record<ProviderName, Record<string, { test: (value: string) => boolean; expected: string }>> = {
  twilio: {
    authToken: {
      test: (s) => /^[0-9a-f]{32}$/i.test(s),
      expected: '32 hex characters (Console → Account Info → Auth Token)',
    },
  },
  telnyx: {
    publicKey: {
      test: isTelnyxPublicKey,
      expected:
        'the base64 Ed25519 public key, 44 characters (Mission Control → Keys & Credentials → Public Key)',
    },
  },
  vonage: {
    signatureSecret: {
      test: (s) => s.length >= 16 && s.length <= 128,
      expected: 'the signature secret, 16-128 characters (Dashboard → Settings)',
    },
  },
  plivo: {
    authToken: {
      test: (s) => /^[A-Za-z0-9]{20,64}$/.test(s),
      expected: 'the auth token, 20-64 letters and digits (Console → Overview)',
    },
  },
  zadarma: {
    apiKey: { test: (s) => /^[A-Za-z0-9]{8,64}$/.test(s), expected: 'the API key (Settings → API)' },
    apiSecret: { test: (s) => /^[A-Za-z0-9]{8,64}$/.test(s), expected: 'the API secret (Settings → API)' },
  },
};

export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

/** Validated credentials for one provider, from `{credentialName: value}`. @throws CredentialError */
export const providerCredentials = <P extends ProviderName>(
  provider: P,
  values: Readonly<Record<string, string | undefined>>,
): NonNullable<ProviderCredentials[P]> => {
  const out: Record<string, string> = {};
  for (const [field, rule] of Object.entries(rules[provider])) {
    const flag = (CREDENTIAL_FLAGS[provider] as Record<string, string>)[field];
    const value = values[field]?.trim();
    if (!value) throw new CredentialError(`--${flag} is required to connect ${provider}`);
    if (!rule.test(value)) throw new CredentialError(`--${flag}: expected ${rule.expected}`);
    out[field] = value;
  }
  return out as NonNullable<ProviderCredentials[P]>;
};
