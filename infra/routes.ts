/**
 * The API surface, declared once: the CDK stack and the local stack both wire these, so a route that works
 * locally exists on AWS with the same key.
 */
export type HttpRouteName =
  | 'webhook'
  | 'tickets'
  | 'agents'
  | 'oauthRedirect'
  | 'oauthDisabled'
  | 'webhookSettings';

export const HTTP_ROUTES: readonly {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  handler: HttpRouteName;
}[] = [
  { method: 'POST', path: '/webhooks/{subdomain}', handler: 'webhook' },
  { method: 'POST', path: '/tickets', handler: 'tickets' },
  { method: 'GET', path: '/agents', handler: 'agents' },
  { method: 'PUT', path: '/agents', handler: 'agents' },
  // The Kommo integration's Redirect URI and its "access revoked" hook (kommo-server.md §1.2, §1.9).
  { method: 'GET', path: '/oauth/kommo', handler: 'oauthRedirect' },
  { method: 'GET', path: '/oauth/kommo/disabled', handler: 'oauthDisabled' },
  // Admin-only: the phone system's webhook URL and secret, shown on request and rotated from the widget.
  { method: 'GET', path: '/settings/webhook', handler: 'webhookSettings' },
  { method: 'POST', path: '/settings/webhook', handler: 'webhookSettings' },
];

/** Kommo pages call the HTTP API from the account's own origin. */
export const KOMMO_ORIGINS = ['https://*.kommo.com', 'https://*.amocrm.ru', 'https://*.amocrm.com'] as const;
/** The local stack also serves its demo page from loopback. */
export const LOCAL_ORIGINS = ['http://localhost:*', 'http://127.0.0.1:*'] as const;

export const CORS = {
  allowHeaders: ['content-type', 'x-auth-token'],
  allowMethods: ['GET', 'POST', 'PUT', 'OPTIONS'],
  maxAgeSeconds: 600,
} as const;

/** The WebSocket stage name: part of the socket URL and of the management endpoint. */
export const WS_STAGE = 'prod';

/** The WebSocket stage's throttle (CDK sets it; the local gateway enforces the same numbers). */
export const WS_THROTTLE = { rateLimit: 500, burstLimit: 1000 } as const;

/** API Gateway WebSocket quotas (not adjustable), emulated by the local stack. */
export const WS_LIMITS = {
  idleTimeoutMs: 10 * 60_000,
  maxConnectionMs: 2 * 3600_000,
  maxMessageBytes: 128 * 1024,
} as const;

const escapeRegExp = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** `https://*.kommo.com` matches one subdomain label; `http://localhost:*` any port (or none). */
const patternToRegExp = (pattern: string): RegExp => {
  const [, scheme = '', host = '', port] = /^(\w+:\/\/)([^:]+)(?::(\*|\d+))?$/.exec(pattern) ?? [];
  const hostPart = host.startsWith('*.') ? `[a-z0-9-]+\\.${escapeRegExp(host.slice(2))}` : escapeRegExp(host);
  const portPart = port === '*' ? '(?::\\d{1,5})?' : port ? `:${port}` : '';
  return new RegExp(`^${escapeRegExp(scheme)}${hostPart}${portPart}$`, 'i');
};

export const originAllowed = (origin: string, patterns: readonly string[]): boolean =>
  patterns.some((pattern) => patternToRegExp(pattern).test(origin));
