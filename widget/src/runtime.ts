/**
 * Everything the widget does on one Kommo page. Kommo creates the widget object and calls its callbacks;
 * this runtime lives once per page (an `init_once` widget survives area changes), so exactly one socket
 * exists however often `render` runs.
 */
import type { CallView, ServerMessage } from '../../lambdas/core/protocol';
import { type CallEffect, CallTracker } from './calls';
import { ContactLookup, type FetchLike } from './contacts';
import { type AddCallParams, httpStatusOf, type KommoApp, type KommoSelf, toPromise } from './kommo';
import { CallbridgeSocket, type SocketStatus, type SocketTimers, type WebSocketConstructor } from './socket';

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
}

export class TicketRefusedError extends Error {
  override readonly name = 'TicketRefusedError';
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

export class CallbridgeRuntime {
  private socket: CallbridgeSocket | undefined;
  private readonly tracker = new CallTracker();
  private readonly contacts: ContactLookup;
  private readonly timers: SocketTimers;
  private calling = false;
  private outageReported = false;
  private tokenReported = false;
  private configReported = false;
  private status: SocketStatus = 'idle';
  private downSince: number | undefined;
  private watchdog: unknown;
  private readonly listeners: [EventTarget, string, EventListener][] = [];
  private started = false;

  constructor(private readonly deps: RuntimeDeps) {
    this.timers = deps.timers ?? {
      setTimeout: (fn, ms) => deps.window.setTimeout(fn, ms),
      clearTimeout: (id) => deps.window.clearTimeout(id as number),
      now: () => Date.now(),
    };
    this.contacts = new ContactLookup(deps.fetch, () => this.timers.now());
  }

  // --- lifecycle ---

  /** Idempotent: a second call (Kommo re-running init, a second widget object) opens nothing new. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const api = this.apiUrl();
    if (!api) {
      this.reportError('config');
      return;
    }
    this.socket = new CallbridgeSocket({
      getUrl: () => this.ticketUrl(api),
      onMessage: (m) => void this.onMessage(m),
      onStatus: (status, detail) => this.onStatus(status, detail.downSince, detail.error),
      WebSocket: this.deps.WebSocket,
      timers: this.timers,
      random: this.deps.random,
      ...this.deps.socketOptions,
      log: (message, detail) => this.log(message, detail),
    });
    const poke = () => this.socket?.poke();
    this.listen(this.deps.window, 'online', poke);
    this.listen(this.deps.window.document, 'visibilitychange', () => {
      if (this.deps.window.document.visibilityState === 'visible') poke();
    });
    this.socket.start();
    this.tick();
  }

  stop(): void {
    this.started = false;
    this.socket?.stop();
    this.socket = undefined;
    this.timers.clearTimeout(this.watchdog);
    for (const [target, type, listener] of this.listeners.splice(0))
      target.removeEventListener(type, listener);
    this.setCalling(false);
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

  // --- socket ---

  private async ticketUrl(api: string): Promise<string> {
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
      throw error;
    }
    const url = (response as { url?: unknown } | undefined)?.url;
    if (typeof url !== 'string' || !/^wss?:\/\//.test(url))
      throw new Error('the ticket response has no socket url');
    return url;
  }

  private onStatus(status: SocketStatus, downSince: number | undefined, _error: unknown) {
    this.status = status;
    this.downSince = downSince;
    if (status === 'open') {
      this.outageReported = false;
      this.tokenReported = false;
    }
    this.tick();
  }

  private async onMessage(message: ServerMessage) {
    const now = this.timers.now();
    let effects: CallEffect[] = [];
    if (message.type === 'call') effects = this.tracker.apply(message.view, now);
    else if (message.type === 'snapshot') effects = this.tracker.reconcile(message.calls, now);
    else if (message.type === 'error') this.log('server error', message);
    this.updateCalling();
    for (const effect of effects) await this.show(effect);
  }

  // --- pop-ups ---

  private async show(effect: CallEffect) {
    const add = this.deps.app.notifications?.add_call;
    if (typeof add !== 'function') return;
    const { call } = effect.view;
    const contact = await this.contacts.find(call.from);
    const state = effect.kind === 'missed' ? this.t('call.missed') : this.t('call.ringing');
    const params: AddCallParams = {
      text: `${this.widgetName()}: ${state}`,
      date: Math.floor(this.timers.now() / 1000),
      from: escapeHtml(call.from),
      to: this.agentName(),
      duration: call.duration ?? 0,
      ...(call.recordingUrl ? { link: call.recordingUrl } : {}),
      ...(contact ? { element: { id: contact.id, type: 'contact' as const } } : {}),
    };
    add.call(this.deps.app.notifications, params);
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

  private reportError(kind: 'config' | 'token' | 'outage') {
    if (kind === 'config') {
      if (this.configReported) return;
      this.configReported = true;
    } else if (kind === 'token') {
      if (this.tokenReported) return;
      this.tokenReported = true;
      // A refused token is the reason for the outage; one message says it.
      this.outageReported = true;
    } else {
      if (this.outageReported) return;
      this.outageReported = true;
    }
    this.addError(this.t(`errors.${kind}`));
  }

  private addError(text: string) {
    const add = this.deps.app.notifications?.add_error;
    if (typeof add !== 'function') return;
    add.call(this.deps.app.notifications, {
      header: this.widgetName(),
      text,
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
