/**
 * One reconnecting socket to the Callbridge WebSocket API.
 *
 * - A fresh URL (a fresh single-use ticket) for every connection attempt: `getUrl` is called each time.
 * - App-level ping well inside API Gateway's 10-minute idle timeout; no pong in time means a dead socket.
 * - Reconnect with full-jitter backoff; at once when the browser comes back online or the page visible.
 * - Make-before-break rollover before API Gateway's 2-hour limit.
 * - Every (re)connect sends `resume` with the highest seq seen, so nothing sent meanwhile is lost.
 */

import { type ClientMessage, parseServerMessage, type ServerMessage } from '../../lambdas/core/protocol';
import { nextDelayMs } from './backoff';

export interface SocketTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export type SocketStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A fresh ticket's socket URL, and the account's seq when it was issued (where a new client resumes from). */
export type TicketUrl = string | { url: string; seq?: number };

export interface SocketOptions {
  /** Resolves to the socket URL with a fresh ticket; rejects when refused. */
  getUrl: () => Promise<TicketUrl>;
  onMessage: (message: ServerMessage) => void;
  onStatus?: (status: SocketStatus, detail: { downSince: number | undefined; error?: unknown }) => void;
  WebSocket?: WebSocketConstructor;
  timers?: SocketTimers;
  random?: () => number;
  /** Ping period; ≤ 5 min keeps API Gateway's 10-minute idle timeout away. */
  pingIntervalMs?: number;
  /** How long to wait for the pong before calling the socket dead. */
  pongTimeoutMs?: number;
  /** First retry within this (full jitter: uniformly 0..base). */
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  /** A connection must stay up this long before the backoff resets (a flapping server keeps growing it). */
  minUptimeMs?: number;
  /** Give up on an attempt that has not opened after this long. */
  connectTimeoutMs?: number;
  /** Open the replacement socket this long after connecting; API Gateway closes at 2 h. */
  rolloverAfterMs?: number;
  /** Ask again for a snapshot that has not come after this long, doubling up to the cap. */
  resumeRetryMs?: number;
  resumeRetryCapMs?: number;
  /** Resync an open socket this often. */
  resyncIntervalMs?: number;
  log?: (message: string, detail?: unknown) => void;
}

export const SOCKET_DEFAULTS = {
  pingIntervalMs: 4 * 60_000,
  pongTimeoutMs: 15_000,
  reconnectBaseMs: 1_000,
  reconnectCapMs: 30_000,
  minUptimeMs: 10_000,
  connectTimeoutMs: 15_000,
  rolloverAfterMs: 110 * 60_000,
  /** A resume whose snapshot has not arrived by then (refused, throttled, dropped) is sent again, backing off. */
  resumeRetryMs: 3_000,
  resumeRetryCapMs: 60_000,
  /** An open socket resyncs this often: the server ends calls left without news, and this is how a page hears. */
  resyncIntervalMs: 10 * 60_000,
} as const;

const OPEN = 1;

const defaultTimers: SocketTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as number),
  now: () => Date.now(),
};

interface Connection {
  ws: WebSocketLike;
  /** The resume's snapshot has arrived: from here on this socket hears every event of the user live. */
  synced?: boolean;
  /** Highest seq heard live before the snapshot; it counts only once the snapshot has filled the gap. */
  pendingSeq?: number;
  openedAt?: number;
  pingTimer?: unknown;
  pongTimer?: unknown;
  rolloverTimer?: unknown;
  connectTimer?: unknown;
  uptimeTimer?: unknown;
  resumeTimer?: unknown;
  resumeAttempt?: number;
}

export class CallbridgeSocket {
  private readonly o: Required<Omit<SocketOptions, 'onStatus' | 'log' | 'WebSocket'>> &
    Pick<SocketOptions, 'onStatus' | 'log'> & { WebSocket: WebSocketConstructor };
  private current: Connection | undefined;
  /** A replacement being opened during a rollover. */
  private next: Connection | undefined;
  private attempt = 0;
  private retryTimer: unknown;
  private stopped = true;
  private connecting = false;
  private downSince: number | undefined;
  private readonly seen = new Set<number>();
  /** Highest seq received; `resume` asks for everything after it. */
  lastSeq: number | undefined;
  status: SocketStatus = 'idle';

  constructor(options: SocketOptions) {
    const WebSocketImpl =
      options.WebSocket ?? (globalThis.WebSocket as unknown as WebSocketConstructor | undefined);
    if (!WebSocketImpl) throw new Error('Invalid options: no WebSocket implementation is available');
    this.o = {
      ...SOCKET_DEFAULTS,
      timers: defaultTimers,
      random: Math.random,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
      WebSocket: WebSocketImpl,
    } as typeof this.o;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.downSince = this.o.timers.now();
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.o.timers.clearTimeout(this.retryTimer);
    for (const c of [this.current, this.next]) if (c) this.dispose(c, 1000, 'widget stopped');
    this.current = undefined;
    this.next = undefined;
    this.setStatus('closed');
  }

  /** Reconnect now if down (the network came back, the tab became visible). */
  poke(): void {
    if (this.stopped || this.connecting || this.status === 'open') return;
    this.o.timers.clearTimeout(this.retryTimer);
    this.attempt = 0;
    void this.connect();
  }

  /** Send on the open socket; false when none is open (nothing is queued: the caller decides what that means). */
  post(message: ClientMessage): boolean {
    const connection = this.current;
    if (!connection || connection.ws.readyState !== OPEN) return false;
    connection.ws.send(JSON.stringify(message));
    return true;
  }

  /** For tests and diagnostics. */
  get isOpen(): boolean {
    return this.current?.ws.readyState === OPEN && this.status === 'open';
  }

  private setStatus(status: SocketStatus, error?: unknown) {
    this.status = status;
    this.o.onStatus?.(status, { downSince: this.downSince, error });
  }

  private async connect(rollover = false): Promise<void> {
    if (this.stopped || (this.connecting && !rollover)) return;
    if (!rollover) this.connecting = true;
    if (!rollover && this.status !== 'open')
      this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let url: string;
    try {
      const ticket = await this.o.getUrl();
      url = typeof ticket === 'string' ? ticket : ticket.url;
      // A client that has never heard a seq resumes from the ticket's: its first socket, too, then gets
      // everything that happened after it asked to connect, even if that socket drops before its snapshot.
      if (typeof ticket !== 'string' && this.lastSeq === undefined && typeof ticket.seq === 'number') {
        this.lastSeq = ticket.seq;
      }
    } catch (error) {
      if (!rollover) {
        this.connecting = false;
        this.o.log?.('ticket request failed', error);
        this.scheduleRetry(error);
      }
      return;
    }
    if (this.stopped) {
      this.connecting = false;
      return;
    }
    const connection: Connection = { ws: new this.o.WebSocket(url) };
    if (rollover) this.next = connection;
    else this.current = connection;
    const { ws } = connection;
    connection.connectTimer = this.o.timers.setTimeout(() => {
      this.o.log?.('connect timed out');
      ws.close(4000, 'connect timeout');
      this.lost(connection);
    }, this.o.connectTimeoutMs);

    ws.onopen = () => {
      this.o.timers.clearTimeout(connection.connectTimer);
      connection.openedAt = this.o.timers.now();
      if (rollover) {
        const old = this.current;
        this.current = connection;
        this.next = undefined;
        if (old) this.dispose(old, 1000, 'rollover');
      }
      this.connecting = false;
      this.downSince = undefined;
      this.resume(connection);
      this.schedulePing(connection);
      connection.rolloverTimer = this.o.timers.setTimeout(
        () => void this.connect(true),
        this.o.rolloverAfterMs,
      );
      connection.uptimeTimer = this.o.timers.setTimeout(() => {
        this.attempt = 0;
      }, this.o.minUptimeMs);
      this.setStatus('open');
    };
    ws.onmessage = (event) => this.receive(connection, event.data);
    ws.onerror = () => {
      // Browsers follow every error with a close event; the close handler decides what happens next.
    };
    ws.onclose = (event) => {
      this.o.log?.('socket closed', event);
      this.lost(connection);
    };
  }

  private receive(connection: Connection, data: unknown) {
    // Any message proves the socket alive.
    this.o.timers.clearTimeout(connection.pongTimer);
    connection.pongTimer = undefined;
    let json: unknown;
    try {
      json = JSON.parse(String(data));
    } catch {
      this.o.log?.('ignored a message that is not JSON');
      return;
    }
    const parsed = parseServerMessage(json);
    if (!parsed.ok) {
      this.o.log?.('ignored a message that does not match the protocol', parsed.issues);
      return;
    }
    const message = parsed.value;
    if (message.type === 'call') {
      if (this.seen.has(message.seq)) return;
      this.seen.add(message.seq);
      if (this.seen.size > 2000) this.seen.delete(this.seen.values().next().value as number);
      // Before its snapshot, a socket may hear a new event while an older one is still to be replayed:
      // advancing the resume point then could skip that older one if the socket dropped.
      if (connection.synced) this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq);
      else connection.pendingSeq = Math.max(connection.pendingSeq ?? 0, message.seq);
    } else if (message.type === 'snapshot' && (message.page ?? 1) >= (message.pages ?? 1)) {
      this.lastSeq = Math.max(this.lastSeq ?? 0, message.seq, connection.pendingSeq ?? 0);
      connection.synced = true;
      // Complete: no more retries, and the next resync in a while.
      this.o.timers.clearTimeout(connection.resumeTimer);
      connection.resumeAttempt = 0;
      connection.resumeTimer = this.o.timers.setTimeout(
        () => this.resume(connection),
        this.o.resyncIntervalMs,
      );
    }
    this.o.onMessage(message);
  }

  /**
   * Ask for the user's calls as they are now; until the (last page of the) snapshot arrives, ask again with
   * backoff: a resume can be throttled, refused or dropped, and the socket would otherwise stay open and quiet.
   */
  private resume(connection: Connection) {
    if (connection.ws.readyState !== OPEN) return;
    this.send(connection, {
      action: 'resume',
      ...(this.lastSeq === undefined ? {} : { after: this.lastSeq }),
    });
    const attempt = connection.resumeAttempt ?? 0;
    connection.resumeAttempt = attempt + 1;
    const delay = Math.min(this.o.resumeRetryCapMs, this.o.resumeRetryMs * 2 ** attempt);
    this.o.timers.clearTimeout(connection.resumeTimer);
    connection.resumeTimer = this.o.timers.setTimeout(
      () => {
        this.o.log?.('no snapshot yet; asking again');
        this.resume(connection);
      },
      delay * (0.75 + this.o.random() * 0.5),
    );
  }

  private send(connection: Connection, message: unknown) {
    if (connection.ws.readyState === OPEN) connection.ws.send(JSON.stringify(message));
  }

  private schedulePing(connection: Connection) {
    connection.pingTimer = this.o.timers.setTimeout(() => {
      if (connection.ws.readyState !== OPEN) return;
      this.send(connection, { action: 'ping' });
      connection.pongTimer = this.o.timers.setTimeout(() => {
        // Half-open: the TCP connection looks fine but nothing comes back.
        this.o.log?.('no pong; closing the socket');
        connection.ws.close(4001, 'pong timeout');
        this.lost(connection);
      }, this.o.pongTimeoutMs);
      this.schedulePing(connection);
    }, this.o.pingIntervalMs);
  }

  private dispose(connection: Connection, code: number, reason: string) {
    for (const t of [
      connection.pingTimer,
      connection.pongTimer,
      connection.rolloverTimer,
      connection.connectTimer,
      connection.uptimeTimer,
      connection.resumeTimer,
    ]) {
      this.o.timers.clearTimeout(t);
    }
    connection.ws.onclose = null;
    connection.ws.onmessage = null;
    connection.ws.onopen = null;
    try {
      connection.ws.close(code, reason);
    } catch {
      // Closing a socket that never opened can throw in some browsers; it is gone either way.
    }
  }

  private lost(connection: Connection) {
    if (connection === this.next) {
      // A failed rollover attempt: the current socket still works; try again on the next rollover tick.
      this.dispose(connection, 1000, 'rollover failed');
      this.next = undefined;
      return;
    }
    if (connection !== this.current) return;
    this.dispose(connection, 1000, 'lost');
    this.current = undefined;
    this.connecting = false;
    if (this.stopped) return;
    this.downSince ??= this.o.timers.now();
    this.scheduleRetry();
  }

  private scheduleRetry(error?: unknown) {
    if (this.stopped) return;
    const delay = nextDelayMs(this.attempt, this.o.random, this.o.reconnectBaseMs, this.o.reconnectCapMs);
    this.attempt++;
    this.setStatus('reconnecting', error);
    this.o.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.o.timers.setTimeout(() => void this.connect(), delay);
  }
}
