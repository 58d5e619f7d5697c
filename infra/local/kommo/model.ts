/**
 * The Kommo emulator's data: accounts with users, contacts and the widget's settings, the integration, and
 * OAuth grants. Facts are from ../../../../shared reference kommo-server.md; sections are cited where used.
 */
export interface EmulatedUser {
  id: number;
  name: string;
  email?: string;
  isAdmin?: boolean;
  /** Deactivated users stay in the list with rights.is_active false (§6.2). */
  isActive?: boolean;
  isFree?: boolean;
}

export interface EmulatedContact {
  id: number;
  name: string;
  phones: string[];
  /** The contact's responsible user (the account's first user when absent). */
  responsibleUserId?: number;
  /** Active leads of the contact: a call to a contact with exactly one goes to that lead (§2.2). */
  leads?: number[];
}

export interface EmulatedAccount {
  id: number;
  subdomain: string;
  name?: string;
  users: EmulatedUser[];
  contacts?: EmulatedContact[];
  /** The widget's settings as an admin saved them, e.g. `{ phones: { "101": "101" } }` (§7.1). */
  widgetSettings?: Record<string, unknown>;
}

export interface EmulatedIntegration {
  clientId: string;
  clientSecret: string;
  /** Exactly as entered in the integration; the token endpoint compares it (§1.4). */
  redirectUri: string;
  widgetCode: string;
  /** "Access revoked notification web hook" (§1.9). */
  disableHookUrl?: string;
}

export interface AuthCode {
  code: string;
  accountId: number;
  userId: number;
  issuedAt: number;
  used: boolean;
}

export interface AccessGrant {
  token: string;
  accountId: number;
  userId: number;
  expiresAt: number;
  revoked: boolean;
  scopes: string[];
}

export interface RefreshGrant {
  token: string;
  accountId: number;
  userId: number;
  issuedAt: number;
  expiresAt: number;
  revoked: boolean;
  /** The refresh token this one was issued for, and those issued for this one. */
  parent?: string;
  children: string[];
  /** Spent: used once to refresh. Still valid until one of its children is used (Kommo's grace, §1.5). */
  used: boolean;
}

export interface WrittenRecord {
  accountId: number;
  userId: number;
  /** X-Context-User-ID of the request, if any (§7.3). */
  contextUserId?: number;
  at: number;
  body: Record<string, unknown>;
  /** The id the emulator gave it, and the entity it was attached to (calls; an incoming lead's own lead). */
  id: number;
  entity?: { id: number; type: 'contact' | 'lead' };
  /** The contact an incoming lead brought with it (unsorted). */
  contactId?: number;
}

export interface RequestLogEntry {
  method: string;
  path: string;
  status: number;
  at: number;
  accountId?: number;
}

/** Faults a test arms; each counts down to zero and is then gone. */
export interface Faults {
  /** Token endpoint answers 500 this many times. */
  tokenErrors: number;
  /** Token endpoint processes the request, then answers 500: the response is "lost" (the grant happened). */
  tokenLostResponses: number;
  /** Token endpoint waits this long before answering (ms), this many times. */
  tokenDelay: { ms: number; times: number };
  /** API answers 429 with this retry_after this many times: a storm. */
  api429: { times: number; retryAfterSeconds: number };
  /** API answers 500 this many times. */
  api500: number;
  /** Until this time (the emulator's clock, epoch ms) every API request gets 503: an outage. */
  outageUntil: number;
}

export const noFaults = (): Faults => ({
  tokenErrors: 0,
  tokenLostResponses: 0,
  tokenDelay: { ms: 0, times: 0 },
  api429: { times: 0, retryAfterSeconds: 1 },
  api500: 0,
  outageUntil: 0,
});

/** Lifetimes per §1.5. */
export const LIFETIMES = {
  codeMs: 20 * 60_000,
  accessMs: 24 * 3600_000,
  refreshMs: 90 * 86_400_000,
} as const;

/** §8.1: 7 requests a second; a 429 asks to wait `retry_after` (300 s in Kommo's example). */
export interface RateLimitOptions {
  perSecond: number;
  retryAfterSeconds: number;
  /** Requests sent while a 429's retry_after runs that earn the 403 block (not documented: 3, strict). */
  blockAfterExcess: number;
  blockMs: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = {
  perSecond: 7,
  retryAfterSeconds: 300,
  blockAfterExcess: 3,
  blockMs: 15 * 60_000,
};

export const digitsOf = (phone: string) => phone.replace(/\D/g, '');
