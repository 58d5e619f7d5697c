/**
 * Everything the widget does on one Kommo page. Kommo creates the widget object and calls its callbacks;
 * this runtime lives once per page (an `init_once` widget survives area changes), so exactly one socket
 * exists however often `render` runs.
 */
import type { CallView, ServerMessage } from '../../lambdas/core/protocol';
import { canonicalHttpsUrl } from '../../lambdas/core/url';
import { PROVIDER_NAMES } from '../../lambdas/providers/port';
import { type CallEffect, CallTracker, effectKey, type ShownStore } from './calls';
import { ContactLookup, type FetchLike } from './contacts';
import { type AddCallParams, httpStatusOf, type KommoApp, type KommoSelf, toPromise } from './kommo';
import { CallPanel } from './panel';
import {
  CallbridgeSocket,
  type SocketStatus,
  type SocketTimers,
  type TicketUrl,
  type WebSocketConstructor,
} from './socket';
import {
  type ChannelConstructor,
  type LockManagerLike,
  StorageClaims,
  TabLink,
  type TabMessage,
} from './tabs';

/** An outage shorter than this stays silent (deploys, network blips, the 2-hour rollover). */
export const OUTAGE_ERROR_AFTER_MS = 60_000;
/** With the socket lost this long, the page cannot know whether the call still runs: allow reloads again. */
export const CALLING_GRACE_MS = 60_000;
/** A call not heard of for this long no longer holds the reload guard (its `ended` was lost). */
export const CALL_SAFETY_TIMEOUT_MS = 3 * 3600_000;

export interface RuntimeDeps {
  self: KommoSelf;
  app: KommoApp;
  window: Window;
  fetch: FetchLike;
  /** Backend URL baked into the build; the `api_url` setting overrides it. */
  bakedApiUrl: string;
  version: string;
  WebSocket?: WebSocketConstructor;
  timers?: SocketTimers;
  random?: () => number;
  socketOptions?: Partial<{ pingIntervalMs: number; pongTimeoutMs: number; rolloverAfterMs: number }>;
  /** Web Locks; `null` forces the per-tab fallback. Defaults to `navigator.locks`. */
  locks?: LockManagerLike | null;
  /** BroadcastChannel; `null` forces the per-tab fallback. */
  BroadcastChannel?: ChannelConstructor | null;
  storage?: Storage;
  tabId?: string;
}

/** How this tab takes part: the leader holds the agent's socket, followers listen, a solo tab does both. */
export type TabRole = 'leader' | 'follower' | 'solo' | 'stopped';

/** A follower that was asked to show a pop-up confirms; without that, the leader shows it itself. */
export const POPUP_ACK_MS = 1500;

/**
 * Acks of ringing pop-ups this socket sends at most per minute. The server allows 20 messages a minute per
 * socket (lambdas/core/limits.ts), which pings and resumes share; past this the tab stays quiet and the
 * server rings Kommo's bell instead, which is the safe side.
 */
export const ACKS_PER_MINUTE = 10;

export class TicketRefusedError extends Error {
  override readonly name = 'TicketRefusedError';
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

export interface CrmSettingsView {
  settings: Record<string, unknown>;
  /** The admins' line about calls that could not be logged. */
  failures?: string;
}

export class CallbridgeRuntime {
  private socket: CallbridgeSocket | undefined;
  private tracker = new CallTracker();
  private readonly contacts: ContactLookup;
  private readonly timers: SocketTimers;
  private calling = false;
  private outageReported = false;
  private tokenReported = false;
  private configReported = false;
  private reauthReported = false;
  /** From the ticket answer: whether this Kommo user is an account admin (the settings show admin tools). */
  isAdmin = false;
  private status: SocketStatus = 'idle';
  private downSince: number | undefined;
  private watchdog: unknown;
  private readonly listeners: [EventTarget, string, EventListener][] = [];
  private started = false;
  role: TabRole = 'stopped';
  private link: TabLink | undefined;
  private claims: StorageClaims | undefined;
  private lastSeq: number | undefined;
  private readonly pendingAcks = new Map<string, { timer: unknown; effect: CallEffect }>();
  /** When this tab last told the server it showed a ringing pop-up (for ACKS_PER_MINUTE). */
  private readonly serverAcks: number[] = [];
  readonly tabId: string;
  private panel: CallPanel | undefined;
  /** Contact names found for callers, by number, for the call card. */
  private readonly contactNames = new Map<string, string | null>();
  /** The last problem in technical terms, for admins (the widget settings show it). */
  problem: string | undefined;

  constructor(private readonly deps: RuntimeDeps) {
    this.timers = deps.timers ?? {
      setTimeout: (fn, ms) => deps.window.setTimeout(fn, ms),
      clearTimeout: (id) => deps.window.clearTimeout(id as number),
      now: () => Date.now(),
    };
    this.contacts = new ContactLookup(deps.fetch, () => this.timers.now());
    this.tabId = deps.tabId ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    const doc = deps.window.document;
    if (doc?.body) {
      this.panel = new CallPanel(doc, () => ({
        ringing: this.t('call.ringing'),
        answered: this.t('call.answered'),
        missed: this.t('call.missed'),
        outbound: this.t('call.outbound'),
        dismiss: this.t('call.dismiss'),
      }));
    }
  }

  // --- lifecycle ---

  /** Idempotent: a second call (Kommo re-running init, a second widget object) opens nothing new. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const nav = this.deps.window.navigator as Navigator & { locks?: LockManagerLike };
    const locks = this.deps.locks === undefined ? nav?.locks : this.deps.locks;
    const Channel =
      this.deps.BroadcastChannel === undefined
        ? ((this.deps.window as unknown as { BroadcastChannel?: ChannelConstructor }).BroadcastChannel ??
          undefined)
        : this.deps.BroadcastChannel;
    const scope = `callbridge:${this.subdomain() ?? 'account'}:${this.userId()}`;
    const me = Number(this.userId());
    this.tracker = new CallTracker(
      500,
      this.shownStore(`${scope}:shown`),
      Number.isSafeInteger(me) ? me : undefined,
    );
    this.listen(this.deps.window, 'focus', () => this.link?.focused(this.timers.now()));
    this.listen(this.deps.window.document, 'visibilitychange', () => {
      if (this.deps.window.document.visibilityState !== 'visible') return;
      this.link?.focused(this.timers.now());
      this.socket?.poke();
    });
    this.listen(this.deps.window, 'online', () => this.socket?.poke());
    this.listen(this.deps.window, 'pagehide', () => this.link?.stop());
    if (locks && Channel) {
      this.setRole('follower');
      this.link = new TabLink(this.tabId, scope, locks, Channel, {
        onLeader: () => this.lead(),
        onMessage: (message) => void this.fromTab(message),
      });
      this.link.start();
      if (this.deps.window.document.hasFocus?.()) this.link.focused(this.timers.now());
    } else {
      this.claims = new StorageClaims(this.storage(), scope, this.tabId, () => this.timers.now());
      this.lead('solo');
    }
    this.tick();
  }

  /** This tab runs the agent's socket: it got the lock, or it is on its own. */
  private lead(role: 'leader' | 'solo' = 'leader') {
    if (!this.started) return;
    this.setRole(role);
    const api = this.apiUrl();
    if (!api) {
      this.reportError('config');
      return;
    }
    this.socket = new CallbridgeSocket({
      getUrl: () => this.ticketUrl(api),
      onMessage: (m) => void this.fromSocket(m),
      onStatus: (status, detail) => this.onStatus(status, detail.downSince),
      WebSocket: this.deps.WebSocket,
      timers: this.timers,
      random: this.deps.random,
      ...this.deps.socketOptions,
      log: (message, detail) => this.log(message, detail),
    });
    // Resume from the newest seq any tab saw, so a hand-over loses nothing and repeats nothing.
    this.socket.lastSeq = this.lastSeq;
    this.socket.start();
  }

  stop(): void {
    this.started = false;
    this.link?.stop();
    this.link = undefined;
    this.socket?.stop();
    this.socket = undefined;
    for (const { timer } of this.pendingAcks.values()) this.timers.clearTimeout(timer);
    this.pendingAcks.clear();
    this.timers.clearTimeout(this.watchdog);
    for (const [target, type, listener] of this.listeners.splice(0))
      target.removeEventListener(type, listener);
    this.setCalling(false);
    this.panel?.remove();
    this.setRole('stopped');
  }

  private setRole(role: TabRole) {
    this.role = role;
    // Visible in the page for support and the demo's status bar.
    const root = this.deps.window.document?.documentElement;
    if (root) root.dataset.callbridgeRole = role;
  }

  get connectionStatus(): SocketStatus {
    return this.status;
  }

  apiUrl(): string {
    const setting = this.deps.self.get_settings().api_url;
    const url = typeof setting === 'string' && setting.trim() ? setting.trim() : this.deps.bakedApiUrl;
    return url.replace(/\/+$/, '');
  }

  webhookUrl(): string | undefined {
    const api = this.apiUrl();
    const subdomain = this.subdomain();
    return api && subdomain ? `${api}/webhooks/${subdomain}` : undefined;
  }

  /** Where each phone provider's own webhooks go (README "Connect your phone system"). */
  providerWebhookUrls(): { provider: string; url: string }[] {
    const base = this.webhookUrl();
    return base ? PROVIDER_NAMES.map((provider) => ({ provider, url: `${base}/${provider}` })) : [];
  }

  /** The `phones` setting (Kommo `users` field): user id → extension; Kommo may hand it over as a JSON string. */
  phones(fields: Record<string, unknown> = this.deps.self.get_settings()): Record<string, string> {
    let raw = fields.phones;
    if (typeof raw === 'string') {
      try {
        raw = JSON.parse(raw);
      } catch {
        return {};
      }
    }
    if (!raw || typeof raw !== 'object') return {};
    return Object.fromEntries(
      Object.entries(raw as Record<string, unknown>).filter(([, v]) => typeof v === 'string') as [
        string,
        string,
      ][],
    );
  }

  async saveAgents(fields: Record<string, unknown>): Promise<boolean> {
    const api = (typeof fields.api_url === 'string' && fields.api_url.trim()) || this.apiUrl();
    if (!api) return false;
    try {
      await toPromise(
        this.deps.self.$authorizedAjax({
          url: `${api.replace(/\/+$/, '')}/agents`,
          method: 'PUT',
          type: 'PUT',
          contentType: 'application/json',
          dataType: 'json',
          data: JSON.stringify({ agents: this.phones(fields) }),
        }),
      );
      return true;
    } catch (error) {
      const status = httpStatusOf(error);
      this.addError(
        this.t('settings.save_failed').replace('{reason}', status ? `HTTP ${status}` : 'network error'),
      );
      return false;
    }
  }

  /** Admins only: the webhook URL and secret for the phone system (`reveal`), or a freshly rotated secret. */
  async webhookSecret(action: 'reveal' | 'rotate'): Promise<{ url?: string; secret?: string } | undefined> {
    const api = this.apiUrl();
    if (!api) return undefined;
    try {
      const response = await toPromise(
        this.deps.self.$authorizedAjax({
          url: `${api}/settings/webhook${action === 'reveal' ? '?reveal=1' : ''}`,
          method: action === 'reveal' ? 'GET' : 'POST',
          type: action === 'reveal' ? 'GET' : 'POST',
          dataType: 'json',
        }),
      );
      const { url, secret } = (response ?? {}) as { url?: unknown; secret?: unknown };
      return {
        ...(typeof url === 'string' ? { url } : {}),
        ...(typeof secret === 'string' ? { secret } : {}),
      };
    } catch (error) {
      const status = httpStatusOf(error);
      this.addError(
        this.t('settings.save_failed').replace('{reason}', status ? `HTTP ${status}` : 'network error'),
      );
      return undefined;
    }
  }

  /**
   * Admins only: what calls do in Kommo, and what could not be logged ("3 calls could not be logged: token
   * revoked"). With `patch`, saves it first. Undefined when the backend cannot tell (not installed, offline).
   */
  async crmSettings(patch?: Record<string, unknown>): Promise<CrmSettingsView | undefined> {
    const api = this.apiUrl();
    if (!api) return undefined;
    try {
      const response = await toPromise(
        this.deps.self.$authorizedAjax({
          url: `${api}/settings/crm`,
          method: patch ? 'PUT' : 'GET',
          type: patch ? 'PUT' : 'GET',
          dataType: 'json',
          ...(patch ? { contentType: 'application/json', data: JSON.stringify(patch) } : {}),
        }),
      );
      const { settings, failures } = (response ?? {}) as {
        settings?: unknown;
        failures?: { message?: unknown };
      };
      if (!settings || typeof settings !== 'object') return undefined;
      return {
        settings: settings as Record<string, unknown>,
        ...(typeof failures?.message === 'string' ? { failures: failures.message } : {}),
      };
    } catch (error) {
      if (patch) {
        const status = httpStatusOf(error);
        this.addError(
          this.t('settings.save_failed').replace('{reason}', status ? `HTTP ${status}` : 'network error'),
        );
      }
      return undefined;
    }
  }

  // --- socket ---

  private async ticketUrl(api: string): Promise<TicketUrl> {
    let response: unknown;
    try {
      response = await toPromise(
        this.deps.self.$authorizedAjax({
          url: `${api}/tickets`,
          method: 'POST',
          type: 'POST',
          dataType: 'json',
        }),
      );
    } catch (error) {
      const status = httpStatusOf(error);
      if (status === 401 || status === 403 || status === 404) {
        this.reportError('token');
        throw new TicketRefusedError(`the backend refused the Kommo token (HTTP ${status})`);
      }
      if (status === 410) {
        // Turned off in Kommo: admins are told once to install again; an agent's widget waits quietly
        // (the socket keeps retrying with backoff, so a re-installation brings it back without a reload).
        const notice = (error as { responseJSON?: { notice?: { code?: unknown } } }).responseJSON?.notice;
        if (notice?.code === 'needs_reauthorization') this.reportError('reauth');
        this.outageReported = true;
        throw new TicketRefusedError('Callbridge is disabled for this Kommo account (HTTP 410)');
      }
      throw error;
    }
    const { url, seq, isAdmin, notice } = (response ?? {}) as {
      url?: unknown;
      seq?: unknown;
      isAdmin?: unknown;
      notice?: { code?: unknown };
    };
    if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) {
      throw new Error('the ticket response has no socket url');
    }
    this.isAdmin = isAdmin === true;
    // Additive protocol field: the installation needs re-authorization; only admins are sent it.
    if (notice?.code === 'needs_reauthorization') this.reportError('reauth');
    return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? { url, seq } : url;
  }

  private onStatus(status: SocketStatus, downSince: number | undefined) {
    this.status = status;
    this.downSince = downSince;
    if (this.role === 'leader') this.link?.post({ kind: 'status', status, downSince });
    if (status === 'open') {
      this.outageReported = false;
      this.tokenReported = false;
      this.problem = undefined;
    }
    this.tick();
  }

  /** Apply a server message to this tab's view of the calls; returns the pop-ups it calls for. */
  private absorb(message: ServerMessage): CallEffect[] {
    const now = this.timers.now();
    let effects: CallEffect[] = [];
    if (message.type === 'call') {
      effects = this.tracker.apply(message.view, now);
      this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq);
    } else if (message.type === 'snapshot') {
      effects = this.tracker.reconcile(message.calls, now, {
        recent: message.recent,
        last: (message.page ?? 1) >= (message.pages ?? 1),
      });
      this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq);
      if (message.gap) this.log('the snapshot left out older calls; nothing pops for them');
    } else if (message.type === 'error') {
      this.log('server error', message);
    }
    this.updateCalling();
    this.renderPanel();
    return effects;
  }

  /** The live call card: every call of this agent as it is now (see panel.ts). */
  private renderPanel() {
    if (!this.panel) return;
    const views = this.tracker.panelCalls(this.timers.now(), CALL_SAFETY_TIMEOUT_MS);
    const rows = views.map((view) => {
      const number = view.call.direction === 'outbound' ? view.call.to : view.call.from;
      const known = this.contactNames.get(number);
      if (known === undefined) {
        // Looked up once per number (the lookup caches too); the card is drawn again when the name arrives.
        this.contactNames.set(number, null);
        void this.contacts.find(number).then(
          (contact) => {
            if (!contact?.name) return;
            this.contactNames.set(number, contact.name);
            if (this.started) this.renderPanel();
          },
          () => {},
        );
      }
      return { view, ...(known ? { contact: known } : {}) };
    });
    this.panel.render(rows);
  }

  /** A message from our own socket (leader or solo tab). */
  private async fromSocket(message: ServerMessage) {
    const effects = this.absorb(message);
    if (this.role === 'solo') {
      for (const effect of effects) if (this.claims?.claim(effect.key) !== false) await this.show(effect);
      return;
    }
    const popups = effects.map((effect) => ({ key: effect.key, tab: this.link?.popupTab() ?? this.tabId }));
    this.link?.post({ kind: 'server', message, popups });
    for (const [index, effect] of effects.entries()) {
      if (popups[index]?.tab === this.tabId) {
        await this.show(effect);
        continue;
      }
      // Shown elsewhere, unless that tab is gone: then here, after a short wait for its confirmation.
      const timer = this.timers.setTimeout(() => {
        if (this.pendingAcks.delete(effect.key)) void this.show(effect);
      }, POPUP_ACK_MS);
      this.pendingAcks.set(effect.key, { timer, effect });
    }
  }

  /** A message from another tab of this agent. */
  private async fromTab(message: TabMessage) {
    switch (message.kind) {
      case 'server': {
        const effects = this.absorb(message.message);
        for (const popup of message.popups) {
          if (popup.tab !== this.tabId) continue;
          const effect =
            effects.find((e) => e.key === popup.key) ?? this.effectFromMessage(message.message, popup.key);
          if (!effect) continue;
          this.link?.post({ kind: 'shown', key: popup.key, tab: this.tabId });
          await this.show(effect);
        }
        return;
      }
      case 'shown': {
        const pending = this.pendingAcks.get(message.key);
        if (pending) {
          this.timers.clearTimeout(pending.timer);
          this.pendingAcks.delete(message.key);
          // A live tab of this agent has the pop-up: the server hears it through this tab's socket.
          this.acknowledge(pending.effect);
        }
        return;
      }
      case 'status':
        if (this.role === 'follower') {
          this.status = message.status;
          this.downSince = message.downSince;
          this.tick();
        }
        return;
      case 'sync-request':
        if (this.role === 'leader') {
          this.link?.post({
            kind: 'sync',
            to: message.tab,
            lastSeq: this.lastSeq,
            calls: this.tracker.activeCalls(this.timers.now(), CALL_SAFETY_TIMEOUT_MS),
            shown: this.tracker.shownKeys(),
            status: this.status,
            downSince: this.downSince,
            focus: this.link.lastFocus,
          });
        }
        return;
      case 'sync':
        if (message.to !== this.tabId) return;
        this.lastSeq = Math.max(this.lastSeq ?? 0, message.lastSeq ?? 0) || undefined;
        this.tracker.absorb(message.calls, message.shown, this.timers.now());
        this.renderPanel();
        if (this.role === 'follower') {
          this.status = message.status;
          this.downSince = message.downSince;
        }
        this.tick();
        return;
      default:
        return;
    }
  }

  private effectFromMessage(message: ServerMessage, key: string): CallEffect | undefined {
    if (message.type !== 'call') return undefined;
    const kind = key === effectKey(message.view.call.id, 'missed') ? 'missed' : 'popup';
    return { kind, view: message.view, key };
  }

  // --- pop-ups ---

  private async show(effect: CallEffect) {
    const add = this.deps.app.notifications?.add_call;
    if (typeof add !== 'function') return;
    const { call } = effect.view;
    const contact = await this.contacts.find(call.from);
    const state = effect.kind === 'missed' ? this.t('call.missed') : this.t('call.ringing');
    // Kommo renders these fields into its notification centre as markup, so each is escaped here; a recording
    // link is passed only in the canonical https form the server accepts (older servers did not check).
    const link = call.recordingUrl ? canonicalHttpsUrl(call.recordingUrl) : undefined;
    const params: AddCallParams = {
      text: escapeHtml(`${this.widgetName()}: ${state}`),
      date: Math.floor(this.timers.now() / 1000),
      from: escapeHtml(call.from),
      to: escapeHtml(this.agentName()),
      duration: call.duration ?? 0,
      ...(link ? { link: escapeHtml(link) } : {}),
      ...(contact ? { element: { id: contact.id, type: 'contact' as const } } : {}),
    };
    add.call(this.deps.app.notifications, params);
    this.acknowledge(effect);
  }

  /**
   * Tell the server a ringing pop-up is on screen, so it does not ring Kommo's bell for this agent (it does
   * after a couple of seconds without this: a socket can be open while its page is frozen). Only the tab that
   * holds the socket sends; a follower's pop-up reaches it as `shown`.
   */
  private acknowledge(effect: CallEffect) {
    if (effect.kind !== 'popup' || effect.view.state !== 'ringing') return;
    if (this.role !== 'leader' && this.role !== 'solo') return;
    const now = this.timers.now();
    while (this.serverAcks.length > 0 && (this.serverAcks[0] ?? 0) <= now - 60_000) this.serverAcks.shift();
    if (this.serverAcks.length >= ACKS_PER_MINUTE) {
      this.log('too many pop-ups this minute to acknowledge; Kommo’s bell may ring too');
      return;
    }
    const sent = this.socket?.post({ action: 'ack', callId: effect.view.call.id, seq: this.lastSeq ?? 0 });
    if (sent) this.serverAcks.push(now);
  }

  // --- reload guard and outages ---

  /** Re-evaluates time-based rules while there is something to watch. */
  private tick() {
    this.timers.clearTimeout(this.watchdog);
    const now = this.timers.now();
    if (this.started && this.status !== 'open' && this.downSince !== undefined) {
      if (now - this.downSince >= OUTAGE_ERROR_AFTER_MS) this.reportError('outage');
    }
    this.updateCalling();
    if (this.started && (this.status !== 'open' || this.calling)) {
      this.watchdog = this.timers.setTimeout(() => this.tick(), 5_000);
    }
  }

  private updateCalling() {
    const now = this.timers.now();
    const lostTooLong =
      this.status !== 'open' && this.downSince !== undefined && now - this.downSince >= CALLING_GRACE_MS;
    const active: CallView[] = this.tracker.activeCalls(now, CALL_SAFETY_TIMEOUT_MS);
    this.setCalling(this.started && !lostTooLong && active.length > 0);
    if (this.calling) {
      this.timers.clearTimeout(this.watchdog);
      this.watchdog = this.timers.setTimeout(() => this.tick(), 5_000);
    }
  }

  private setCalling(value: boolean) {
    if (this.calling === value) return;
    this.calling = value;
    const sdk = this.deps.app.sdk;
    if (sdk && typeof sdk.setCallingStatus === 'function') sdk.setCallingStatus(value);
  }

  private reportError(kind: 'config' | 'token' | 'outage' | 'reauth') {
    // Only the tab that holds the socket knows; among solo tabs, the first to claim it says it.
    if (this.role === 'follower' || this.role === 'stopped') return;
    if (this.role === 'solo' && this.claims?.claim(`error:${kind}`, 5 * 60_000) === false) return;
    if (kind === 'config') {
      if (this.configReported) return;
      this.configReported = true;
    } else if (kind === 'reauth') {
      // Once per page: every reconnect's ticket repeats the notice, the admin needs to read it once.
      if (this.reauthReported) return;
      this.reauthReported = true;
    } else if (kind === 'token') {
      if (this.tokenReported) return;
      this.tokenReported = true;
      // A refused token is the reason for the outage; one message says it.
      this.outageReported = true;
    } else {
      if (this.outageReported) return;
      this.outageReported = true;
    }
    this.addError(this.errorText(kind));
  }

  /**
   * Agents are told what it means for them and whom to ask; admins get the technical detail (and the widget
   * settings show it to them too, as `problem`).
   */
  private errorText(kind: 'config' | 'token' | 'outage' | 'reauth'): string {
    if (kind === 'config' || kind === 'token') {
      this.problem = this.t(`errors.${kind}_admin`);
      if (this.knownAdmin()) return this.problem;
    }
    return this.t(`errors.${kind}`);
  }

  /**
   * Whether this user is an account admin: from a ticket the backend answered (its `isAdmin`), else from
   * Kommo's `user_rights` constant, when it says so.
   */
  knownAdmin(): boolean {
    if (this.isAdmin) return true;
    const rights = this.deps.app.constant?.('user_rights') as { is_admin?: unknown } | undefined;
    return rights?.is_admin === true || rights?.is_admin === 'Y';
  }

  private addError(text: string) {
    const add = this.deps.app.notifications?.add_error;
    if (typeof add !== 'function') return;
    add.call(this.deps.app.notifications, {
      header: escapeHtml(this.widgetName()),
      text: escapeHtml(text),
      date: Math.floor(this.timers.now() / 1000),
    });
  }

  // --- helpers ---

  private listen(target: EventTarget, type: string, listener: EventListener) {
    target.addEventListener(type, listener);
    this.listeners.push([target, type, listener]);
  }

  t(key: string): string {
    const viaHost = this.deps.self.i18n?.(key);
    if (typeof viaHost === 'string' && viaHost !== key) return viaHost;
    let node: unknown = this.deps.self.langs;
    for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
    return typeof node === 'string' ? node : key;
  }

  private widgetName(): string {
    const name = this.t('widget.name');
    return name === 'widget.name' ? 'Callbridge' : name;
  }

  private agentName(): string {
    const user = this.deps.app.constant?.('user') as { name?: unknown; id?: unknown } | undefined;
    return typeof user?.name === 'string' ? user.name : String(user?.id ?? '');
  }

  private userId(): string {
    const user = this.deps.app.constant?.('user') as { id?: unknown } | undefined;
    return String(user?.id ?? this.deps.self.system?.().amouser_id ?? 'user');
  }

  /** Pop-ups shown in the last day, kept across page loads (a reload must not add them to Kommo again). */
  private shownStore(key: string): ShownStore {
    const DAY = 86_400_000;
    return {
      load: () => {
        try {
          const saved = JSON.parse(this.storage()?.getItem(key) ?? '[]') as unknown;
          if (!Array.isArray(saved)) return [];
          const now = this.timers.now();
          return saved
            .filter(
              (e): e is [string, number] =>
                Array.isArray(e) && typeof e[0] === 'string' && now - Number(e[1]) < DAY,
            )
            .map((e) => e[0]);
        } catch {
          return [];
        }
      },
      save: (keys) => {
        try {
          const now = this.timers.now();
          const previous = new Map<string, number>(
            (JSON.parse(this.storage()?.getItem(key) ?? '[]') as [string, number][]).filter(
              (e) => Array.isArray(e) && now - Number(e[1]) < DAY,
            ),
          );
          const entries = keys.slice(-300).map((k) => [k, previous.get(k) ?? now] as const);
          this.storage()?.setItem(key, JSON.stringify(entries));
        } catch {
          // Storage full or blocked: pop-ups are then remembered for this page only.
        }
      },
    };
  }

  private storage(): Storage | undefined {
    try {
      return this.deps.storage ?? this.deps.window.localStorage;
    } catch {
      return undefined;
    }
  }

  subdomain(): string | undefined {
    const account = this.deps.app.constant?.('account') as { subdomain?: unknown } | undefined;
    const sub =
      typeof account?.subdomain === 'string' ? account.subdomain : this.deps.self.system?.().subdomain;
    return sub || undefined;
  }

  private log(message: string, detail?: unknown) {
    let debug = false;
    try {
      debug = this.deps.window.localStorage?.getItem('callbridge:debug') === '1';
    } catch {
      // Storage can be blocked; then there is simply no debug output.
    }
    if (debug) console.debug(`[callbridge@${this.deps.version}] ${message}`, detail ?? '');
  }
}
