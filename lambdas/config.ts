/**
 * Environment read once, at cold start, and validated: a function missing a variable fails before it serves
 * anything, with a message naming the variable, rather than later with a confusing SDK error.
 */
export interface TuningConfig {
  /** Hard limit on one PostToConnection, retries included. */
  pushTimeoutMs: number;
  /** PostToConnection calls in flight per event. */
  pushConcurrency: number;
  /** A webhook claim older than this is presumed abandoned (its function died) and may be taken over. */
  claimLeaseMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export const requireEnv = <K extends string>(env: Env, keys: readonly K[]): Record<K, string> => {
  const missing = keys.filter((key) => !env[key]?.trim());
  if (missing.length > 0) {
    throw new ConfigError(`missing environment variable(s): ${missing.join(', ')}`);
  }
  return Object.fromEntries(keys.map((key) => [key, (env[key] ?? '').trim()])) as Record<K, string>;
};

const intFromEnv = (env: Env, key: string, fallback: number, min: number, max: number): number => {
  const raw = env[key]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${key}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
};

export const readTuning = (env: Env): TuningConfig => ({
  pushTimeoutMs: intFromEnv(env, 'PUSH_TIMEOUT_MS', 3000, 100, 20_000),
  pushConcurrency: intFromEnv(env, 'PUSH_CONCURRENCY', 32, 1, 256),
  // Longer than the webhook function's timeout (25 s), so a live attempt is never taken over.
  claimLeaseMs: intFromEnv(env, 'WEBHOOK_CLAIM_LEASE_MS', 30_000, 1_000, 300_000),
});

/** KOMMO_API_ORIGIN sends every account's Kommo traffic to one origin (the emulator); unset on AWS. */
export const readKommoApiOrigin = (env: Env): string | undefined => {
  const raw = env.KOMMO_API_ORIGIN?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`KOMMO_API_ORIGIN: expected an origin such as http://127.0.0.1:8788, got "${raw}"`);
  }
  if (!/^https?:$/.test(url.protocol) || url.pathname.replace(/\/+$/, '') !== '') {
    throw new ConfigError(`KOMMO_API_ORIGIN: expected an origin without a path, got "${raw}"`);
  }
  return url.origin;
};
