/**
 * The bridge's configuration, read once from the environment and validated before anything connects. Every
 * problem is reported at once, each naming its variable and what was expected, so a customer fixes their unit
 * file in one pass. Secrets are never echoed back, not even in an error.
 */

import { canonicalHttpsUrl } from '../../lambdas/core/url';
import { isWebhookSecret } from '../../lambdas/core/webhook-signature';

export interface BridgeConfig {
  ami: { host: string; port: number; username: string; secret: string };
  webhook: { url: string; secret: string };
  dataDir: string;
  classify: ClassifyConfig;
  recording: { baseUrl: string; root: string } | undefined;
  health: { host: string; port: number } | undefined;
  tuning: Tuning;
}

/** How channels are told apart: an agent's phone, a trunk, or a Local/ helper leg. */
export interface ClassifyConfig {
  /** Endpoint names (or `*` globs) of trunks; a channel on one of them is never an agent. */
  trunks: string[];
  /** Endpoint names that are agents' phones (FreePBX: the extension number). */
  extensionPattern: RegExp;
  /** Contexts where calls from outside enter the dialplan (FreePBX: from-trunk, from-pstn …). */
  inboundContexts: string[];
  /** When not empty, only calls whose first channel starts in one of these contexts are followed. */
  contextFilter: string[];
}

export interface Tuning {
  retryBaseMs: number;
  retryMaxMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  statusIntervalMs: number;
  resyncIntervalMs: number;
  ringBatchMs: number;
  sendConcurrency: number;
  requestTimeoutMs: number;
}

export class BridgeConfigError extends Error {
  override readonly name = 'BridgeConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Record<string, string | undefined>;

export const DEFAULT_INBOUND_CONTEXTS = ['from-trunk', 'from-pstn', 'from-did-direct', 'ext-did'];

const list = (raw: string | undefined): string[] =>
  (raw ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);

export const readConfig = (env: Env): BridgeConfig => {
  const problems: string[] = [];
  const text = (key: string, required: boolean): string => {
    const value = env[key]?.trim() ?? '';
    if (required && !value) problems.push(`${key} is missing`);
    return value;
  };
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const raw = env[key]?.trim();
    if (!raw) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${key}: expected a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };

  const host = text('AMI_HOST', true);
  const port = int('AMI_PORT', 5038, 1, 65_535);
  const username = text('AMI_USERNAME', true);
  const amiSecret = text('AMI_SECRET', true);

  const url = text('CALLBRIDGE_WEBHOOK_URL', true);
  if (url) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      problems.push(
        'CALLBRIDGE_WEBHOOK_URL: expected an absolute URL such as https://api.example.com/webhooks/acme',
      );
    }
    if (parsed && !/^https?:$/.test(parsed.protocol)) {
      problems.push(`CALLBRIDGE_WEBHOOK_URL: expected http(s), got "${parsed.protocol}"`);
    } else if (parsed && !/\/webhooks\/[a-z0-9-]{1,63}$/.test(parsed.pathname)) {
      problems.push('CALLBRIDGE_WEBHOOK_URL: expected a path ending in /webhooks/{subdomain}');
    }
  }
  const webhookSecret = text('CALLBRIDGE_WEBHOOK_SECRET', true);
  if (webhookSecret && !isWebhookSecret(webhookSecret)) {
    problems.push('CALLBRIDGE_WEBHOOK_SECRET: expected a Standard Webhooks secret "whsec_…" (base64)');
  }
  const dataDir = text('BRIDGE_DATA_DIR', true);

  let extensionPattern = /^[0-9]{2,12}$/;
  const rawPattern = env.BRIDGE_EXTENSION_PATTERN?.trim();
  if (rawPattern) {
    try {
      extensionPattern = new RegExp(rawPattern);
    } catch {
      problems.push(`BRIDGE_EXTENSION_PATTERN: expected a regular expression, got "${rawPattern}"`);
    }
  }
  const inbound = list(env.BRIDGE_INBOUND_CONTEXTS);

  const recordingBase = text('BRIDGE_RECORDING_BASE_URL', false);
  // Recording links reach the agent's browser; Callbridge accepts only canonical https ones.
  if (recordingBase && !canonicalHttpsUrl(`${recordingBase.replace(/\/+$/, '')}/x`)) {
    problems.push(
      'BRIDGE_RECORDING_BASE_URL: expected an https URL in canonical form, such as https://pbx.example.com/rec',
    );
  }
  // 0 picks a free port (tests); the URL is logged at start.
  const healthPort = env.BRIDGE_HEALTH_PORT?.trim() ? int('BRIDGE_HEALTH_PORT', 0, 0, 65_535) : undefined;

  const tuning: Tuning = {
    retryBaseMs: int('BRIDGE_RETRY_BASE_MS', 1_000, 1, 600_000),
    retryMaxMs: int('BRIDGE_RETRY_MAX_MS', 60_000, 1, 3_600_000),
    reconnectBaseMs: int('AMI_RECONNECT_BASE_MS', 1_000, 1, 600_000),
    reconnectMaxMs: int('AMI_RECONNECT_MAX_MS', 30_000, 1, 3_600_000),
    statusIntervalMs: int('BRIDGE_STATUS_INTERVAL_MS', 60_000, 0, 86_400_000),
    resyncIntervalMs: int('BRIDGE_RESYNC_INTERVAL_MS', 600_000, 0, 86_400_000),
    ringBatchMs: int('BRIDGE_RING_BATCH_MS', 250, 0, 10_000),
    sendConcurrency: int('BRIDGE_SEND_CONCURRENCY', 4, 1, 64),
    requestTimeoutMs: int('BRIDGE_REQUEST_TIMEOUT_MS', 10_000, 100, 120_000),
  };

  if (problems.length > 0) throw new BridgeConfigError(problems);
  return {
    ami: { host, port, username, secret: amiSecret },
    webhook: { url, secret: webhookSecret },
    dataDir,
    classify: {
      trunks: list(env.BRIDGE_TRUNKS),
      extensionPattern,
      inboundContexts: inbound.length > 0 ? inbound : DEFAULT_INBOUND_CONTEXTS,
      contextFilter: list(env.BRIDGE_CONTEXT_FILTER),
    },
    recording: recordingBase
      ? {
          baseUrl: recordingBase.replace(/\/+$/, ''),
          root: text('BRIDGE_RECORDING_ROOT', false) || '/var/spool/asterisk/monitor',
        }
      : undefined,
    health:
      healthPort !== undefined
        ? { host: text('BRIDGE_HEALTH_HOST', false) || '127.0.0.1', port: healthPort }
        : undefined,
    tuning,
  };
};
