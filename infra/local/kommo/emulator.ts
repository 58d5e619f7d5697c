/**
 * A Kommo to run against: the OAuth consent page and token endpoint, the REST API parts Callbridge uses,
 * Kommo's rate limit (429, then a 403 block) and its error bodies, all strict where Kommo documents a rule
 * (kommo-server.md §1–§8). Every account is served from this one origin (KOMMO_API_ORIGIN); the token in the
 * request says which account it is.
 *
 * Tests drive it in-process (arm faults, inspect what was written); `npm start` runs it beside the stack.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { consentPage } from './consent';
import {
  type AccessGrant,
  type AuthCode,
  DEFAULT_RATE_LIMIT,
  digitsOf,
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
import { sendHal, sendOAuthProblem, sendProblem } from './problems';

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

type Json = Record<string, unknown>;

const token = (prefix: string) => `${prefix}${randomBytes(24).toString('hex')}`;

class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly extra: Json = {},
  ) {
    super(detail);
  }
}

const validationError = (requestId: string, path: string, code: string, detail: string) =>
  new RequestError(400, 'Request validation failed', {
    'validation-errors': [{ request_id: requestId, errors: [{ code, path, detail }] }],
  });

const isInt = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

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
  private server: Server | undefined;
  url = '';

  constructor(private readonly options: KommoEmulatorOptions) {
    this.integration = options.integration;
    for (const account of options.accounts) this.accounts.set(account.id, structuredClone(account));
    this.now = options.now ?? Date.now;
    this.limit = { ...DEFAULT_RATE_LIMIT, ...options.rateLimit };
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
        return await this.api(req, res, url, grant);
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

  // --- API ---

  private async api(req: IncomingMessage, res: ServerResponse, url: URL, grant: AccessGrant) {
    const account = this.account(grant.accountId);
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const contextHeader = req.headers['x-context-user-id'];
    let actor = account.users.find((u) => u.id === grant.userId);
    if (contextHeader !== undefined) {
      // §7.3: only with an admin's token; a missing or free user is refused.
      const ctx = account.users.find((u) => String(u.id) === contextHeader);
      if (!actor?.isAdmin || !ctx || ctx.isFree || ctx.isActive === false)
        throw new RequestError(403, 'Access denied');
      actor = ctx;
    }
    const userId = actor?.id ?? grant.userId;
    const contextUserId = contextHeader !== undefined ? userId : undefined;
    const base = `${this.url}`;

    if (method === 'GET' && path === '/api/v4/account') {
      const withs = new Set((url.searchParams.get('with') ?? '').split(',').filter(Boolean));
      const embedded: Json = {};
      if (withs.has('task_types'))
        embedded.task_types = [
          { id: 1, name: 'Follow-up', color: null, icon_id: null, code: 'FOLLOW_UP' },
          { id: 2, name: 'Meeting', color: null, icon_id: null, code: 'MEETING' },
        ];
      if (withs.has('users_groups')) embedded.users_groups = [{ id: 0, name: 'Main', uuid: null }];
      return sendHal(res, 200, {
        id: account.id,
        name: account.name ?? account.subdomain,
        subdomain: account.subdomain,
        created_at: 1_600_000_000,
        created_by: account.users[0]?.id ?? 0,
        updated_at: 1_600_000_000,
        updated_by: account.users[0]?.id ?? 0,
        current_user_id: userId,
        country: 'US',
        currency: 'USD',
        currency_symbol: '$',
        customers_mode: 'disabled',
        is_unsorted_on: true,
        mobile_feature_version: 0,
        is_loss_reason_enabled: true,
        is_helpbot_enabled: false,
        is_technical_account: false,
        contact_name_display_order: 1,
        ...(withs.has('amojo_id') ? { amojo_id: `amojo-${account.id}` } : {}),
        ...(withs.has('uuid') ? { uuid: `uuid-${account.id}` } : {}),
        ...(withs.has('version') ? { version: 1 } : {}),
        _links: { self: { href: `${base}/api/v4/account` } },
        ...(Object.keys(embedded).length ? { _embedded: embedded } : {}),
      });
    }
    if (method === 'GET' && path === '/api/v4/users') {
      if (!actor?.isAdmin) throw new RequestError(403, 'Insufficient rights');
      const { page, limit } = paging(url);
      const slice = account.users.slice((page - 1) * limit, page * limit);
      if (slice.length === 0) return void res.writeHead(204).end();
      return sendHal(res, 200, {
        _total_items: account.users.length,
        _page: page,
        _page_count: Math.ceil(account.users.length / limit),
        _links: {
          self: { href: `${base}/api/v4/users?page=${page}&limit=${limit}` },
          ...(page * limit < account.users.length
            ? { next: { href: `${base}/api/v4/users?page=${page + 1}&limit=${limit}` } }
            : {}),
        },
        _embedded: {
          users: slice.map((u) => ({
            id: u.id,
            name: u.name,
            email: u.email ?? `user${u.id}@example.com`,
            lang: 'en',
            rights: {
              leads: { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' },
              contacts: { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' },
              companies: { view: 'A', edit: 'A', add: 'A', delete: 'A', export: 'A' },
              tasks: { edit: 'A', delete: 'A' },
              mail_access: true,
              catalog_access: true,
              status_rights: [],
              is_admin: u.isAdmin === true,
              is_free: u.isFree === true,
              is_active: u.isActive !== false,
              group_id: null,
              role_id: null,
            },
            _links: { self: { href: `${base}/api/v4/users/${u.id}` } },
          })),
        },
      });
    }
    const widget = /^\/api\/v4\/widgets\/([A-Za-z0-9_-]+)$/.exec(path);
    if (widget && (method === 'GET' || method === 'POST')) {
      if (widget[1] !== this.integration.widgetCode) throw new RequestError(404, 'Widget not found');
      if (method === 'POST') {
        // §7.1: installing/saving settings is for admins; the body is the settings object itself.
        if (!actor?.isAdmin) throw new RequestError(403, 'Insufficient rights');
        const body = parseJson(await readText(req));
        if (!body || typeof body !== 'object' || Array.isArray(body))
          throw new RequestError(400, 'Expected a settings object');
        account.widgetSettings = body as Json;
      }
      return sendHal(res, 200, {
        id: 1,
        code: this.integration.widgetCode,
        version: '0.0.0',
        rating: '0',
        settings_template: [
          { key: 'phones', name: 'Extension of each user', type: 'users', is_required: false },
          { key: 'api_url', name: 'Backend URL', type: 'text', is_required: false },
        ],
        is_lead_source: false,
        is_work_with_dp: false,
        is_crm_template: false,
        client_uuid: this.integration.clientId,
        is_active_in_account: true,
        pipeline_id: null,
        // "The key is returned only when an integration requests its own settings": every token here is ours.
        settings: account.widgetSettings ?? [],
        _links: { self: { href: `${base}/api/v4/widgets/${this.integration.widgetCode}` } },
      });
    }
    if (method === 'GET' && path === '/api/v4/contacts') return this.contacts(res, url, account);
    if (method === 'POST' && path === '/api/v4/calls') {
      return this.calls(res, account, userId, contextUserId, parseJson(await readText(req)));
    }
    if (method === 'POST' && path === '/api/v4/leads/unsorted/sip') {
      return this.unsortedSip(res, account, userId, contextUserId, parseJson(await readText(req)));
    }
    if (method === 'POST' && path === '/api/v4/tasks') {
      return this.tasks(res, account, userId, contextUserId, parseJson(await readText(req)));
    }
    if (method === 'POST' && path === '/api/v2/events') {
      if (!grant.scopes.includes('notifications'))
        throw new RequestError(403, 'Notification Center access was not granted');
      return this.events(res, account, userId, parseJson(await readText(req)));
    }
    throw new RequestError(404, 'Not found');
  }

  /** §6.1: `query` matches phone digits (the last 7) or names; no result is 204 with no body. */
  private contacts(res: ServerResponse, url: URL, account: EmulatedAccount) {
    const query = (url.searchParams.get('query') ?? '').trim();
    const { page, limit } = paging(url);
    const digits = digitsOf(query);
    const found = (account.contacts ?? []).filter((c) => {
      if (!query) return true;
      if (digits.length >= 7) return c.phones.some((p) => digitsOf(p).slice(-7) === digits.slice(-7));
      return (
        c.name.toLowerCase().includes(query.toLowerCase()) ||
        (digits.length > 0 && c.phones.some((p) => digitsOf(p).includes(digits)))
      );
    });
    const slice = found.slice((page - 1) * limit, page * limit);
    if (slice.length === 0) return void res.writeHead(204).end();
    const withLeads = (url.searchParams.get('with') ?? '').split(',').includes('leads');
    return sendHal(res, 200, {
      _page: page,
      _links: { self: { href: `${this.url}/api/v4/contacts?page=${page}&limit=${limit}` } },
      _embedded: {
        contacts: slice.map((c) => ({
          id: c.id,
          name: c.name,
          first_name: c.name.split(' ')[0] ?? '',
          last_name: c.name.split(' ').slice(1).join(' '),
          responsible_user_id: account.users[0]?.id ?? 0,
          group_id: 0,
          created_by: 0,
          updated_by: 0,
          created_at: 1_600_000_000,
          updated_at: 1_600_000_000,
          closest_task_at: null,
          is_deleted: false,
          account_id: account.id,
          custom_fields_values: [
            {
              field_id: 1,
              field_name: 'Phone',
              field_code: 'PHONE',
              field_type: 'multitext',
              values: c.phones.map((value) => ({ value, enum_id: 1, enum_code: 'WORK' })),
            },
          ],
          _links: { self: { href: `${this.url}/api/v4/contacts/${c.id}` } },
          _embedded: {
            tags: [],
            companies: [],
            ...(withLeads
              ? {
                  leads: (c.leads ?? []).map((id) => ({
                    id,
                    _links: { self: { href: `${this.url}/api/v4/leads/${id}` } },
                  })),
                }
              : {}),
          },
        })),
      },
    });
  }

  /** §2: an array of calls; matched on the last 10 digits; unmatched calls are not added and come back in errors. */
  private calls(
    res: ServerResponse,
    account: EmulatedAccount,
    userId: number,
    contextUserId: number | undefined,
    body: unknown,
  ) {
    const items = requireArray(body);
    const added: Json[] = [];
    const errors: Json[] = [];
    items.forEach((item, index) => {
      const requestId = typeof item.request_id === 'string' ? item.request_id : String(index);
      if (item.direction !== 'inbound' && item.direction !== 'outbound') {
        throw validationError(
          requestId,
          'direction',
          'NotSupportedChoice',
          'direction: expected inbound or outbound',
        );
      }
      if (!isInt(item.duration) || item.duration < 0)
        throw validationError(requestId, 'duration', 'InvalidType', 'duration: expected seconds');
      if (typeof item.source !== 'string' || !item.source)
        throw validationError(requestId, 'source', 'NotBlank', 'source: required');
      if (typeof item.phone !== 'string' || !item.phone)
        throw validationError(requestId, 'phone', 'NotBlank', 'phone: required');
      for (const [field, value] of Object.entries(item)) {
        // Kommo rejects nulls for optional fields (kommo-server.md §2.1, issues #570/#383).
        if (value === null)
          throw validationError(requestId, field, 'NotNullable', `${field}: must not be null`);
      }
      if (
        item.call_status !== undefined &&
        (!isInt(item.call_status) || item.call_status < 1 || item.call_status > 7)
      ) {
        throw validationError(requestId, 'call_status', 'NotSupportedChoice', 'call_status: expected 1-7');
      }
      const tail = digitsOf(item.phone).slice(-10);
      const contact = (account.contacts ?? []).find((c) =>
        c.phones.some((p) => digitsOf(p).slice(-10) === tail),
      );
      if (!contact || tail.length === 0) {
        errors.push({
          request_id: requestId,
          title: 'Entity not found',
          status: 400,
          detail: 'No entity with this phone number',
        });
        return;
      }
      const leads = contact.leads ?? [];
      const entity =
        leads.length === 1 && leads[0] !== undefined
          ? { id: leads[0], type: 'lead' as const }
          : { id: contact.id, type: 'contact' as const };
      const id = ++this.nextId;
      this.written.calls.push({
        accountId: account.id,
        userId,
        contextUserId,
        at: this.now(),
        body: item,
        id,
        entity,
      });
      added.push({
        id,
        entity_id: entity.id,
        entity_type: entity.type,
        account_id: account.id,
        request_id: requestId,
        _embedded: {
          entity: {
            id: entity.id,
            _links: { self: { href: `${this.url}/api/v4/${entity.type}s/${entity.id}` } },
          },
        },
      });
    });
    if (added.length === 0) return sendHal(res, 400, { _total_items: 0, errors });
    return sendHal(res, 200, { _total_items: added.length, errors, _embedded: { calls: added } });
  }

  /** §4: incoming leads of category sip; two with the same source_uid cannot exist. */
  private unsortedSip(
    res: ServerResponse,
    account: EmulatedAccount,
    userId: number,
    contextUserId: number | undefined,
    body: unknown,
  ) {
    const items = requireArray(body);
    const out: Json[] = [];
    items.forEach((item, index) => {
      const requestId = typeof item.request_id === 'string' ? item.request_id : String(index);
      if (typeof item.source_uid !== 'string' || !item.source_uid)
        throw validationError(requestId, 'source_uid', 'NotBlank', 'source_uid: required');
      if (typeof item.source_name !== 'string' || !item.source_name)
        throw validationError(requestId, 'source_name', 'NotBlank', 'source_name: required');
      const meta = item.metadata as Json | undefined;
      if (!meta || typeof meta !== 'object')
        throw validationError(requestId, 'metadata', 'NotBlank', 'metadata: required for sip');
      for (const field of ['phone', 'service_code', 'uniq'] as const) {
        if (meta[field] !== undefined && typeof meta[field] !== 'string')
          throw validationError(requestId, `metadata.${field}`, 'InvalidType', `${field}: expected a string`);
      }
      for (const field of ['called_at', 'duration'] as const) {
        if (!isInt(meta[field]))
          throw validationError(
            requestId,
            `metadata.${field}`,
            'InvalidType',
            `${field}: expected an integer`,
          );
      }
      if (
        this.written.unsorted.some((u) => u.accountId === account.id && u.body.source_uid === item.source_uid)
      ) {
        throw validationError(
          requestId,
          'source_uid',
          'Duplicate',
          'an incoming lead with this source_uid exists already',
        );
      }
      const id = ++this.nextId;
      const contactId = ++this.nextId;
      const leadId = ++this.nextId;
      const uid = randomBytes(16).toString('hex');
      this.written.unsorted.push({
        accountId: account.id,
        userId,
        contextUserId,
        at: this.now(),
        body: item,
        id,
      });
      out.push({
        uid,
        account_id: account.id,
        request_id: requestId,
        _links: { self: { href: `${this.url}/api/v4/leads/unsorted/${uid}` } },
        _embedded: { contacts: [{ id: contactId }], leads: [{ id: leadId }], companies: [] },
      });
    });
    return sendHal(res, 200, { _total_items: out.length, _embedded: { unsorted: out } });
  }

  /** §5: `text` and `complete_till` are required; a responsible user must exist. */
  private tasks(
    res: ServerResponse,
    account: EmulatedAccount,
    userId: number,
    contextUserId: number | undefined,
    body: unknown,
  ) {
    const items = requireArray(body);
    const out: Json[] = [];
    items.forEach((item, index) => {
      const requestId = typeof item.request_id === 'string' ? item.request_id : String(index);
      if (typeof item.text !== 'string' || !item.text.trim())
        throw validationError(requestId, 'text', 'NotBlank', 'text: required');
      if (!isInt(item.complete_till))
        throw validationError(
          requestId,
          'complete_till',
          'NotBlank',
          'complete_till: expected a unix timestamp',
        );
      if (
        item.entity_type !== undefined &&
        !['leads', 'contacts', 'companies', 'customers'].includes(String(item.entity_type))
      ) {
        throw validationError(
          requestId,
          'entity_type',
          'NotSupportedChoice',
          'entity_type: expected leads, contacts, companies or customers',
        );
      }
      if (item.entity_type !== undefined && !isInt(item.entity_id))
        throw validationError(requestId, 'entity_id', 'InvalidType', 'entity_id: expected an id');
      if (item.task_type_id !== undefined && item.task_type_id !== 1 && item.task_type_id !== 2) {
        throw validationError(
          requestId,
          'task_type_id',
          'NotSupportedChoice',
          'task_type_id: unknown task type',
        );
      }
      const responsible = item.responsible_user_id ?? userId;
      if (!account.users.some((u) => u.id === responsible)) {
        throw validationError(
          requestId,
          'responsible_user_id',
          'NotSupportedChoice',
          'responsible_user_id: no such user',
        );
      }
      const id = ++this.nextId;
      this.written.tasks.push({
        accountId: account.id,
        userId,
        contextUserId,
        at: this.now(),
        body: item,
        id,
      });
      out.push({ id, request_id: requestId, _links: { self: { href: `${this.url}/api/v4/tasks/${id}` } } });
    });
    return sendHal(res, 200, {
      _links: { self: { href: `${this.url}/api/v4/tasks` } },
      _embedded: { tasks: out },
    });
  }

  /** §3: `{add: [{type: phone_call, phone_number, users?}]}` → 202. */
  private events(res: ServerResponse, account: EmulatedAccount, userId: number, body: unknown) {
    const add = (body as Json | undefined)?.add;
    if (!Array.isArray(add) || add.length === 0)
      throw validationError('0', 'add', 'NotBlank', 'add: expected an array of events');
    add.forEach((event: Json, index) => {
      if (event?.type !== 'phone_call')
        throw validationError(String(index), 'type', 'NotSupportedChoice', 'type: expected phone_call');
      if (typeof event.phone_number !== 'string' || !event.phone_number)
        throw validationError(String(index), 'phone_number', 'NotBlank', 'phone_number: required');
      if (
        event.users !== undefined &&
        (!Array.isArray(event.users) ||
          event.users.some((u: unknown) => !account.users.some((x) => String(x.id) === String(u))))
      ) {
        throw validationError(
          String(index),
          'users',
          'NotSupportedChoice',
          'users: expected ids of users of the account',
        );
      }
    });
    for (const event of add as Json[]) {
      this.written.events.push({
        accountId: account.id,
        userId,
        at: this.now(),
        body: event,
        id: ++this.nextId,
      });
    }
    res.writeHead(202, { 'content-type': 'application/hal+json' });
    res.end();
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

const readText = async (req: IncomingMessage): Promise<string> => {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 2_000_000) throw new RequestError(413, 'Request too large');
  }
  return text;
};

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    throw new RequestError(400, 'Request body is not valid JSON');
  }
};

/** §8.1: at most 250 entities per request (50 recommended). */
const requireArray = (body: unknown): Json[] => {
  if (!Array.isArray(body)) throw new RequestError(400, 'Request validation failed: expected an array');
  if (body.length === 0) throw new RequestError(400, 'Request validation failed: empty array');
  if (body.length > 250) throw new RequestError(422, 'Limit 250 per request');
  if (body.some((item) => !item || typeof item !== 'object' || Array.isArray(item))) {
    throw new RequestError(400, 'Request validation failed: expected objects');
  }
  return body as Json[];
};

const paging = (url: URL) => {
  const page = Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1);
  const limit = Number(url.searchParams.get('limit') ?? 50) || 50;
  if (limit > 250) throw new RequestError(422, 'Limit 250 per page');
  return { page, limit: Math.max(1, limit) };
};
