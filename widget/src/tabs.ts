/**
 * One connection per agent across browser tabs.
 *
 * The tabs of one agent elect a leader with the Web Locks API (the MDN "leader election" pattern): the lock
 * holder runs the socket, everyone else waits in the lock's queue, and the browser hands the lock to the next
 * tab the moment the leader's tab closes or crashes. The leader relays every server message over a
 * BroadcastChannel; every tab applies it (each keeps its own reload guard, which Kommo holds per tab).
 *
 *   tab A (leader) ──socket── Callbridge          lock "callbridge:<account>:<user>": A holds, B and C queue
 *      │  BroadcastChannel "callbridge:<account>:<user>"
 *      ├──▶ tab B  {kind:"server", message, popups:[{key, tab}]}   every tab applies; one tab shows
 *      └──▶ tab C  ◀── {kind:"focus"} / {kind:"shown"} / {kind:"hello"|"bye"} / {kind:"sync-request"}
 */
import type { CallView, ServerMessage } from '../../lambdas/core/protocol';
import type { SocketStatus } from './socket';

export interface LockManagerLike {
  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: (lock: unknown) => Promise<void>,
  ): Promise<unknown>;
}

export interface ChannelLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  close(): void;
}

export type ChannelConstructor = new (name: string) => ChannelLike;

export interface PopupAssignment {
  key: string;
  tab: string;
}

export type TabMessage =
  | { kind: 'hello'; tab: string }
  | { kind: 'bye'; tab: string }
  | { kind: 'focus'; tab: string; at: number }
  | { kind: 'server'; message: ServerMessage; popups: PopupAssignment[] }
  | { kind: 'shown'; key: string; tab: string }
  | { kind: 'status'; status: SocketStatus; downSince: number | undefined }
  | { kind: 'sync-request'; tab: string }
  | {
      kind: 'sync';
      to: string;
      lastSeq: number | undefined;
      calls: CallView[];
      shown: string[];
      status: SocketStatus;
      downSince: number | undefined;
      focus: { tab: string; at: number } | undefined;
    };

export interface TabLinkEvents {
  /** This tab got the lock: start the socket. */
  onLeader(): void;
  onMessage(message: TabMessage): void;
}

/** Election and messaging only; what the messages mean is the runtime's business. */
export class TabLink {
  private channel: ChannelLike | undefined;
  private readonly abort = new AbortController();
  private release: (() => void) | undefined;
  isLeader = false;
  readonly alive = new Set<string>();
  lastFocus: { tab: string; at: number } | undefined;

  constructor(
    readonly tabId: string,
    private readonly name: string,
    private readonly locks: LockManagerLike,
    private readonly Channel: ChannelConstructor,
    private readonly events: TabLinkEvents,
  ) {}

  start(): void {
    this.channel = new this.Channel(this.name);
    this.channel.onmessage = (event) => this.receive(event.data as TabMessage);
    this.post({ kind: 'hello', tab: this.tabId });
    this.post({ kind: 'sync-request', tab: this.tabId });
    this.locks
      .request(this.name, { signal: this.abort.signal }, () => {
        this.isLeader = true;
        this.events.onLeader();
        // Held until this tab stops or dies; the browser then grants it to the next tab in the queue.
        return new Promise<void>((resolve) => {
          this.release = resolve;
        });
      })
      .catch(() => {
        // Aborted while queued (the widget stopped): nothing to hand over.
      });
  }

  stop(): void {
    this.post({ kind: 'bye', tab: this.tabId });
    this.abort.abort();
    this.release?.();
    this.isLeader = false;
    this.channel?.close();
    this.channel = undefined;
  }

  post(message: TabMessage): void {
    this.channel?.postMessage(message);
  }

  focused(at: number): void {
    this.lastFocus = { tab: this.tabId, at };
    this.post({ kind: 'focus', tab: this.tabId, at });
  }

  /** Where a pop-up belongs: the tab the agent focused last, if it is still open, else this (the leader). */
  popupTab(): string {
    const focus = this.lastFocus;
    if (focus && (focus.tab === this.tabId || this.alive.has(focus.tab))) return focus.tab;
    return this.tabId;
  }

  private receive(message: TabMessage) {
    switch (message.kind) {
      case 'hello':
        this.alive.add(message.tab);
        break;
      case 'bye':
        this.alive.delete(message.tab);
        break;
      case 'focus':
        this.alive.add(message.tab);
        if (!this.lastFocus || message.at >= this.lastFocus.at)
          this.lastFocus = { tab: message.tab, at: message.at };
        break;
      case 'sync-request':
        this.alive.add(message.tab);
        break;
      case 'sync':
        if (message.to !== this.tabId) return;
        if (message.focus && (!this.lastFocus || message.focus.at > this.lastFocus.at))
          this.lastFocus = message.focus;
        break;
      case 'shown':
        this.alive.add(message.tab);
        break;
      default:
        break;
    }
    this.events.onMessage(message);
  }
}

/**
 * Where Web Locks or BroadcastChannel are missing, every tab keeps its own socket; this makes their pop-ups and
 * errors happen once anyway, by claiming a key in localStorage (shared by the tabs of one origin).
 */
export class StorageClaims {
  constructor(
    private readonly storage: Storage | undefined,
    private readonly scope: string,
    private readonly tabId: string,
    private readonly now: () => number,
  ) {
    this.prune();
  }

  /** True for the first tab to claim `key` within `windowMs`. */
  claim(key: string, windowMs = 24 * 3600_000): boolean {
    if (!this.storage) return true;
    const item = `${this.scope}:claim:${key}`;
    try {
      const existing = this.storage.getItem(item);
      if (existing) {
        const [tab, at] = existing.split('|');
        if (tab !== this.tabId && this.now() - Number(at) < windowMs) return false;
      }
      this.storage.setItem(item, `${this.tabId}|${this.now()}`);
      // Another tab may have written in between; the last writer wins and only it proceeds.
      return this.storage.getItem(item)?.startsWith(`${this.tabId}|`) ?? true;
    } catch {
      return true;
    }
  }

  private prune() {
    if (!this.storage) return;
    try {
      for (let i = this.storage.length - 1; i >= 0; i--) {
        const key = this.storage.key(i);
        if (!key?.startsWith(`${this.scope}:claim:`)) continue;
        const at = Number(this.storage.getItem(key)?.split('|')[1]);
        if (!(this.now() - at < 24 * 3600_000)) this.storage.removeItem(key);
      }
    } catch {
      // Storage blocked: claims then always succeed (each tab shows its own).
    }
  }
}
