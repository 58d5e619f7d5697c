/**
 * A Kommo to run against: the OAuth consent page and token endpoint, the REST API parts Callbridge uses,
 * Kommo's rate limit (429, then a 403 block) and its error bodies, all strict where Kommo documents a rule
 * (kommo-server.md §1–§8). Every account is served from this one origin (KOMMO_API_ORIGIN); the token in the
 * request says which account it is.
 *
 * Tests drive it in-process (arm faults, inspect what was written); `npm start` runs it beside the stack.
 * This file holds OAuth, the rate limit and the controls; api.ts the REST endpoints.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { KommoApi } from './api';
import { type ContactCard, contactCards } from './cards';
import { consentPage } from './consent';
import {
  type AccessGrant,
  type AuthCode,
  DEFAULT_RATE_LIMIT,
  type EmulatedAccount,
  type EmulatedIntegration,
  type Faults,
  LIFETIMES,
  noFaults,
  type RateLimitOptions,
  type RefreshGrant,
  type RequestLogEntry,
  type WrittenRecord,
} from './model';
import { sendOAuthProblem, sendProblem } from './problems';
import { type Json, parseJson, RequestError, readText } from './request';

export interface KommoEmulatorOptions {
  accounts: EmulatedAccount[];
  integration: EmulatedIntegration;
  integrationName?: string;
  host?: string;
  port?: number;
  /** The emulator's clock (lifetimes, rate windows); defaults to Date.now. */
  now?: () => number;
  rateLimit?: Partial<RateLimitOptions>;
  /** Kommo gives its install webhook 3 s (§1.2). */
  webhookTimeoutMs?: number;
  /** How the emulator calls the Redirect URI and the disable hook (tests under happy-dom pass node's). */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
}

const token = (prefix: string) => `${prefix}${randomBytes(24).toString('hex')}`;

export class KommoEmulator {
  readonly integration: EmulatedIntegration;
  readonly accounts = new Map<number, EmulatedAccount>();
  readonly codes = new Map<string, AuthCode>();
  readonly access = new Map<string, AccessGrant>();
  readonly refresh = new Map<string, RefreshGrant>();
  readonly written = {
    calls: [] as WrittenRecord[],
    unsorted: [] as WrittenRecord[],
    tasks: [] as WrittenRecord[],
    events: [] as WrittenRecord[],
  };
  readonly requests: RequestLogEntry[] = [];
  /** How many times the token endpoint answered, by grant type. */
  readonly tokenGrants = { authorization_code: 0, refresh_token: 0 };
  faults: Faults = noFaults();
  /** Install/disable webhooks the emulator sent, and what came back. */
  readonly hooks: { kind: 'install' | 'disable'; url: string; status: number | 'timeout' | 'error' }[] = [];

  private readonly now: () => number;
  private readonly limit: RateLimitOptions;
  private readonly window: number[] = [];
  private penaltyUntil = 0;
  private excess = 0;
  private blockedUntil = 0;
  private nextId = 900_000;
  private readonly api: KommoApi;
  private server: Server | undefined;
  url = '';

  constructor(private readonly options: KommoEmulatorOptions) {
    this.integration = options.integration;
    for (const account of options.accounts) this.accounts.set(account.id, structuredClone(account));
    this.now = options.now ?? Date.now;
    this.limit = { ...DEFAULT_RATE_LIMIT, ...options.rateLimit };
    this.api = new KommoApi({
      url: () => this.url,
      integration: this.integration,
      written: this.written,
      nextId: () => ++this.nextId,
      now: this.now,
      account: (id) => this.account(id),
    });
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      this.route(req, res).catch((error: unknown) => {
        if (!res.headersSent)
          sendProblem(res, 500, error instanceof Error ? error.message : 'internal error');
        else res.end();
      });
    });
    await new Promise<void>((resolve) =>
      this.server?.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve),
    );
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://${this.options.host ?? '127.0.0.1'}:${port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  // --- what a Kommo admin does ---

  account(id: number): EmulatedAccount {
    const account = this.accounts.get(id);
    if (!account) throw new Error(`no emulated account ${id}`);
    return account;
  }

  /** What a Kommo user sees in the account's contact cards after the calls (see cards.ts). */
  contactCards(accountId: number): ContactCard[] {
    return contactCards(this.account(accountId), this.written);
  }

  /** An admin saves the widget's settings (the `users` field is `{ "<user_id>": "<extension>" }`). */
  setWidgetSettings(accountId: number, settings: Record<string, unknown>): void {
    this.account(accountId).widgetSettings = structuredClone(settings);
  }

  /** Issue an authorization code, as the consent page or a widget install does. */
  issueCode(accountId: number, userId?: number): AuthCode {
    const account = this.account(accountId);
    const admin = userId ?? account.users.find((u) => u.isAdmin)?.id ?? account.users[0]?.id ?? 0;
    const code: AuthCode = {
      code: token('def50200'),
      accountId,
      userId: admin,
      issuedAt: this.now(),
      used: false,
    };
    this.codes.set(code.code, code);
    return code;
  }

  /**
   * A private integration's long-lived token (kommo-server.md §1.8): a JWT with account_id and exp, no
   * refresh token, admin rights. Signed here with a throwaway key (Kommo uses RS256; nobody verifies it).
   */
  async issueLongLivedToken(accountId: number, lifetimeMs: number): Promise<string> {
    const account = this.account(accountId);
    const admin = account.users.find((u) => u.isAdmin)?.id ?? 0;
    const issued = this.now();
    const jwt = await new SignJWT({
      account_id: accountId,
      api_domain: 'api-c.kommo.com',
      scopes: ['crm', 'notifications'],
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setAudience(this.integration.clientId)
      .setSubject(String(admin))
      .setIssuedAt(Math.floor(issued / 1000))
      .setExpirationTime(Math.floor((issued + lifetimeMs) / 1000))
      .setJti(randomBytes(8).toString('hex'))
      .sign(randomBytes(32));
    this.access.set(jwt, {
      token: jwt,
      accountId,
      userId: admin,
      expiresAt: issued + lifetimeMs,
      revoked: false,
      scopes: ['crm', 'notifications'],
    });
    return jwt;
  }

  /**
   * An admin installs the widget: Kommo sends the code to the Redirect URI as a webhook with `from_widget`,
   * waits at most 3 s, ignores the answer and never resends (§1.2).
   */
  async installWidget(
    accountId: number,
    userId?: number,
  ): Promise<{ code: string; status: number | 'timeout' | 'error' }> {
    const code = this.issueCode(accountId, userId);
    const url = new URL(this.integration.redirectUri);
    url.searchParams.set('code', code.code);
    url.searchParams.set('referer', `${this.account(accountId).subdomain}.kommo.com`);
    url.searchParams.set('client_id', this.integration.clientId);
    url.searchParams.set('from_widget', '1');
    const status = await this.hook(url.toString());
    this.hooks.push({ kind: 'install', url: url.pathname, status });
    return { code: code.code, status };
  }

  /** An admin disables the integration: its tokens stop working and the signed hook is sent (§1.5, §1.9). */
  async disableIntegration(accountId: number): Promise<number | 'timeout' | 'error' | 'no-hook'> {
    this.revokeAccount(accountId);
    if (!this.integration.disableHookUrl) return 'no-hook';
    const url = new URL(this.integration.disableHookUrl);
    const signature = createHmac('sha256', this.integration.clientSecret)
      .update(`${this.integration.clientId}|${accountId}`)
      .digest('hex');
    url.searchParams.set('client_uuid', this.integration.clientId);
    url.searchParams.set('account_id', String(accountId));
    url.searchParams.set('signature', signature);
    const status = await this.hook(url.toString());
    this.hooks.push({ kind: 'disable', url: url.pathname, status });
    return status;
  }

  /** Access revoked (or the secret key regenerated): every token of the account stops working. */
  revokeAccount(accountId: number): void {
    for (const grant of this.access.values()) if (grant.accountId === accountId) grant.revoked = true;
    for (const grant of this.refresh.values()) if (grant.accountId === accountId) grant.revoked = true;
  }

  resetRateLimit(): void {
    this.window.length = 0;
    this.penaltyUntil = 0;
    this.excess = 0;
    this.blockedUntil = 0;
  }

  get blocked(): boolean {
    return this.blockedUntil > this.now();
  }

  private async hook(url: string): Promise<number | 'timeout' | 'error'> {
    const signal = AbortSignal.timeout(this.options.webhookTimeoutMs ?? 3000);
    try {
      const send = this.options.fetch ?? ((u: string, init: RequestInit) => fetch(u, init));
      const res = await send(url, { headers: { 'user-agent': 'amoService-oAuth-Code-Sender/1.0' }, signal });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch {
      return signal.aborted ? 'timeout' : 'error';
    }
  }

  // --- HTTP ---

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://kommo.local');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path.startsWith('/_emulator/')) return this.control(req, res, url);
    if (method === 'GET' && path === '/oauth') return this.consent(res, url);
    if (method === 'POST' && path === '/oauth/consent') return this.decide(req, res);

    // Everything below counts against the rate limit, like every request from an IP does at Kommo.
    const entry: RequestLogEntry = { method, path, status: 0, at: this.now() };
    this.requests.push(entry);
    const origEnd = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      entry.status = status;
      return (origEnd as (s: number, ...r: unknown[]) => ServerResponse)(status, ...rest);
    }) as typeof res.writeHead;
    if (this.rateLimited(res)) return;

    try {
      if (method === 'POST' && path === '/oauth2/access_token') return await this.tokenEndpoint(req, res);
      if (path.startsWith('/api/')) {
        if (this.faults.outageUntil > this.now()) {
          throw new RequestError(503, 'Service Unavailable');
        }
        if (this.faults.api500 > 0) {
          this.faults.api500--;
          throw new RequestError(500, 'Internal error', { trace_id: randomBytes(8).toString('hex') });
        }
        if (this.faults.api429.times > 0) {
          this.faults.api429.times--;
          this.penaltyUntil = this.now() + this.faults.api429.retryAfterSeconds * 1000;
          throw new RequestError(429, 'You have sent too many requests, please wait', {
            retry_after: this.faults.api429.retryAfterSeconds,
          });
        }
        const grant = this.authorize(req);
        entry.accountId = grant.accountId;
        return await this.api.handle(req, res, url, grant);
      }
      throw new RequestError(404, 'Not found');
    } catch (error) {
      if (error instanceof RequestError) return sendProblem(res, error.status, error.detail, error.extra);
      throw error;
    }
  }

  /** §8.1: over 7 a second → 429 with retry_after; requests during that wait are excess; 3 of them → 403 for all. */
  private rateLimited(res: ServerResponse): boolean {
    const now = this.now();
    if (this.blockedUntil > now) {
      sendProblem(res, 403, 'Your IP address is blocked for exceeding the request limit');
      return true;
    }
    if (this.penaltyUntil > now) {
      this.excess++;
      if (this.excess >= this.limit.blockAfterExcess) {
        this.blockedUntil = now + this.limit.blockMs;
        sendProblem(res, 403, 'Your IP address is blocked for exceeding the request limit');
        return true;
      }
      sendProblem(res, 429, 'You have sent too many requests, please wait', {
        retry_after: Math.ceil((this.penaltyUntil - now) / 1000),
      });
      return true;
    }
    while (this.window.length > 0 && (this.window[0] ?? 0) <= now - 1000) this.window.shift();
    if (this.window.length >= this.limit.perSecond) {
      this.penaltyUntil = now + this.limit.retryAfterSeconds * 1000;
      sendProblem(
        res,
        429,
        `You have sent too many requests. The limit is ${this.limit.perSecond} requests per second`,
        {
          retry_after: this.limit.retryAfterSeconds,
        },
      );
      return true;
    }
    this.window.push(now);
    return false;
  }

  // --- OAuth ---

  private consent(res: ServerResponse, url: URL) {
    const clientId = url.searchParams.get('client_id');
    if (clientId !== this.integration.clientId)
      return sendProblem(res, 400, 'client_id: unknown integration');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      consentPage({
        integrationName: this.options.integrationName ?? 'Callbridge',
        clientId,
        state: url.searchParams.get('state') ?? undefined,
        accounts: [...this.accounts.values()],
      }),
    );
  }

  private async decide(req: IncomingMessage, res: ServerResponse) {
    const form = new URLSearchParams(await readText(req));
    if (form.get('client_id') !== this.integration.clientId)
      return sendProblem(res, 400, 'client_id: unknown integration');
    const target = new URL(this.integration.redirectUri);
    const state = form.get('state');
    if (form.get('decision') !== 'allow') {
      target.searchParams.set('error', 'access_denied');
      target.searchParams.set('client_id', this.integration.clientId);
      if (state !== null) target.searchParams.set('state', state);
    } else {
      const account = this.accounts.get(Number(form.get('account_id')));
      if (!account) return sendProblem(res, 400, 'account_id: unknown account');
      const code = this.issueCode(account.id);
      target.searchParams.set('code', code.code);
      target.searchParams.set('referer', `${account.subdomain}.kommo.com`);
      if (state !== null) target.searchParams.set('state', state);
      target.searchParams.set('client_id', this.integration.clientId);
    }
    res.writeHead(302, { location: target.toString() });
    res.end();
  }

  /** §1.4–§1.5: JSON or form body; codes 20 min, access 24 h, refresh 3 months, rotation with grace. */
  private async tokenEndpoint(req: IncomingMessage, res: ServerResponse) {
    const text = await readText(req);
    const body: Json = /json/i.test(req.headers['content-type'] ?? '')
      ? (parseJson(text) as Json)
      : Object.fromEntries(new URLSearchParams(text));
    if (this.faults.tokenDelay.times > 0) {
      this.faults.tokenDelay.times--;
      await new Promise((resolve) => setTimeout(resolve, this.faults.tokenDelay.ms));
    }
    if (this.faults.tokenErrors > 0) {
      this.faults.tokenErrors--;
      return sendProblem(res, 500, 'Internal error', { trace_id: randomBytes(8).toString('hex') });
    }
    if (
      body.client_id !== this.integration.clientId ||
      body.client_secret !== this.integration.clientSecret
    ) {
      return sendOAuthProblem(res, 401, 'Client authentication failed', 'Client authentication failed');
    }
    if (body.redirect_uri !== this.integration.redirectUri) {
      return sendOAuthProblem(
        res,
        400,
        'Invalid redirect uri',
        'redirect_uri does not match the integration',
      );
    }
    const now = this.now();
    let accountId: number;
    let userId: number;
    let parent: RefreshGrant | undefined;
    if (body.grant_type === 'authorization_code') {
      const code = typeof body.code === 'string' ? this.codes.get(body.code) : undefined;
      if (!code || code.used)
        return sendOAuthProblem(res, 400, 'Authorization code has been revoked', 'Invalid code');
      if (now - code.issuedAt >= LIFETIMES.codeMs) {
        return sendOAuthProblem(res, 400, 'Authorization code has expired', 'Invalid code');
      }
      code.used = true;
      accountId = code.accountId;
      userId = code.userId;
      this.tokenGrants.authorization_code++;
    } else if (body.grant_type === 'refresh_token') {
      parent = typeof body.refresh_token === 'string' ? this.refresh.get(body.refresh_token) : undefined;
      if (!parent || parent.revoked)
        return sendOAuthProblem(res, 401, 'Token has been revoked', 'Invalid refresh token');
      if (now >= parent.expiresAt)
        return sendOAuthProblem(res, 401, 'Token has expired', 'Invalid refresh token');
      // Using a new refresh token is what revokes the one before it, and its other offspring (§1.5).
      if (parent.parent) {
        const grand = this.refresh.get(parent.parent);
        if (grand) {
          grand.revoked = true;
          for (const sibling of grand.children) {
            const s = this.refresh.get(sibling);
            if (s && s !== parent) s.revoked = true;
          }
        }
      }
      parent.used = true;
      accountId = parent.accountId;
      userId = parent.userId;
      this.tokenGrants.refresh_token++;
    } else {
      return sendOAuthProblem(
        res,
        400,
        'Unsupported grant type',
        'grant_type: expected authorization_code or refresh_token',
      );
    }
    const access: AccessGrant = {
      token: token('kat_'),
      accountId,
      userId,
      expiresAt: now + LIFETIMES.accessMs,
      revoked: false,
      scopes: ['crm', 'notifications'],
    };
    const refresh: RefreshGrant = {
      token: token('krt_'),
      accountId,
      userId,
      issuedAt: now,
      expiresAt: now + LIFETIMES.refreshMs,
      revoked: false,
      ...(parent ? { parent: parent.token } : {}),
      children: [],
      used: false,
    };
    parent?.children.push(refresh.token);
    this.access.set(access.token, access);
    this.refresh.set(refresh.token, refresh);
    if (this.faults.tokenLostResponses > 0) {
      this.faults.tokenLostResponses--;
      return sendProblem(res, 500, 'Internal error');
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        token_type: 'Bearer',
        expires_in: LIFETIMES.accessMs / 1000,
        server_time: Math.floor(now / 1000),
        access_token: access.token,
        refresh_token: refresh.token,
      }),
    );
  }

  private authorize(req: IncomingMessage): AccessGrant {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    const grant = match?.[1] ? this.access.get(match[1]) : undefined;
    if (!grant || grant.revoked) throw new RequestError(401, 'Unauthorized');
    if (this.now() >= grant.expiresAt) throw new RequestError(401, 'Token has expired');
    return grant;
  }

  // --- test and demo control (not part of Kommo) ---

  private async control(req: IncomingMessage, res: ServerResponse, url: URL) {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*' });
      res.end(JSON.stringify(body));
    };
    const path = url.pathname.slice('/_emulator/'.length);
    const body = req.method === 'POST' ? ((parseJson((await readText(req)) || '{}') ?? {}) as Json) : {};
    if (req.method === 'GET' && path === 'state') {
      return send(200, {
        accounts: [...this.accounts.values()].map((a) => ({
          id: a.id,
          subdomain: a.subdomain,
          widgetSettings: a.widgetSettings ?? {},
        })),
        written: this.written,
        tokenGrants: this.tokenGrants,
        hooks: this.hooks,
        blocked: this.blocked,
      });
    }
    if (req.method === 'POST' && path === 'install')
      return send(200, await this.installWidget(Number(body.account_id)));
    if (req.method === 'POST' && path === 'disable')
      return send(200, { status: await this.disableIntegration(Number(body.account_id)) });
    if (req.method === 'POST' && path === 'settings') {
      this.setWidgetSettings(Number(body.account_id), (body.settings as Json) ?? {});
      return send(200, { ok: true });
    }
    if (req.method === 'POST' && path === 'faults') {
      this.faults = { ...noFaults(), ...(body as Partial<Faults>) };
      return send(200, this.faults);
    }
    return send(404, { error: 'unknown control' });
  }
}
