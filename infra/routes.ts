/**
 * What the two APIs share beyond their routes (which the function manifest declares): CORS, the WebSocket
 * stage and its limits. The CDK stack and the local gateway both read these.
 */
/** Kommo pages call the HTTP API from the account's own origin. */
export const KOMMO_ORIGINS = ['https://*.kommo.com', 'https://*.amocrm.ru', 'https://*.amocrm.com'] as const;
/** The local stack also serves its demo page from loopback. */
export const LOCAL_ORIGINS = ['http://localhost:*', 'http://127.0.0.1:*'] as const;

export const CORS = {
  allowHeaders: ['content-type', 'x-auth-token'],
  allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
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
  /** One frame; a larger message must be split into frames of at most this. */
  maxFrameBytes: 32 * 1024,
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
