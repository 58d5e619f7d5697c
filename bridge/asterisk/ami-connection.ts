/**
 * The AMI session, on the `asterisk-manager` library (MIT, the most used Node AMI client: it frames and parses
 * the protocol, including `Response: Follows` blocks and repeated headers). Around it, what the library leaves
 * to its user:
 *
 * - reconnecting after a PBX restart or a network cut, with exponential backoff and jitter (the library's own
 *   `keepConnected` retries every 10 s + n·10 s and prints to stdout, so it is not used);
 * - a wrong AMI secret is a clear error naming the variables to check, and is retried with the same backoff
 *   (an admin may fix manager.conf without restarting the bridge);
 * - on every (re)connect, `CoreShowChannels`: the channels Asterisk has now, so calls that began or ended while
 *   we were away are reconciled. Live events that arrive while the list is coming in are held and applied after
 *   it, so nothing created after the snapshot is mistaken for gone;
 * - a `Ping` every `pingIntervalMs`: a session whose PBX vanished without a FIN is noticed and replaced.
 */
import AsteriskManager, { type AmiFrame, type Manager } from 'asterisk-manager';
import type { Logger } from '../../lambdas/ports';
import { type AmiRecord, flattenFrame } from './ami-events';
import { backoffDelay, type Scheduler } from './backoff';
import type { ChannelSnapshot } from './tracker';

export interface AmiOptions {
  host: string;
  port: number;
  username: string;
  secret: string;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  pingIntervalMs?: number;
  listTimeoutMs?: number;
  /** Ask CoreShowChannels again this often while connected (0: only on connect), to catch any drift. */
  resyncIntervalMs?: number;
  scheduler: Scheduler;
  logger: Logger;
  random?: () => number;
  /** Every live event, in the order Asterisk sent it. */
  onEvent: (record: AmiRecord) => void;
  /** After login: Asterisk's channels now (applied before any event that arrived meanwhile). */
  onResync: (channels: ChannelSnapshot[]) => void;
}

export interface AmiStatus {
  connected: boolean;
  connectedSince?: number;
  attempts: number;
  lastError?: string;
  lastErrorAt?: number;
  reconnects: number;
  /** Set when Asterisk refuses CoreShowChannels (the AMI user lacks write = reporting). */
  resyncRefused?: string;
}

export class AmiConnection {
  private manager: Manager | undefined;
  private cancelRetry: (() => void) | undefined;
  private cancelPing: (() => void) | undefined;
  private cancelResync: (() => void) | undefined;
  private stopped = false;
  private failures = 0;
  /** Events held while CoreShowChannels is listing; undefined when live. */
  private held: AmiRecord[] | undefined;
  readonly status: AmiStatus = { connected: false, attempts: 0, reconnects: 0 };

  constructor(private readonly options: AmiOptions) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelPing?.();
    this.cancelResync?.();
    this.teardown();
  }

  private teardown() {
    const manager = this.manager;
    this.manager = undefined;
    this.status.connected = false;
    if (!manager) return;
    manager.removeAllListeners();
    // Swallow late socket errors from the session being dropped.
    manager.on('error', () => {});
    manager.disconnect();
  }

  private connect() {
    if (this.stopped) return;
    const { host, port, username, secret, logger } = this.options;
    this.status.attempts++;
    const manager = AsteriskManager(undefined, host, username, secret, true);
    this.manager = manager;
    let settled = false;
    const fail = (reason: string, level: 'warn' | 'error') => {
      if (settled || this.manager !== manager) return;
      settled = true;
      this.teardown();
      this.status.lastError = reason;
      this.status.lastErrorAt = this.options.scheduler.now();
      this.failures++;
      const delay = backoffDelay(
        this.failures,
        this.options.reconnectBaseMs,
        this.options.reconnectMaxMs,
        this.options.random ?? Math.random,
      );
      logger[level]('AMI disconnected; reconnecting', {
        host,
        port,
        reason,
        attempt: this.failures,
        retryInMs: delay,
      });
      this.cancelRetry = this.options.scheduler.after(delay, () => {
        this.cancelRetry = undefined;
        this.status.reconnects++;
        this.connect();
      });
    };
    manager.on('error', (error: Error) => fail(`socket error: ${error.message}`, 'warn'));
    manager.on('close', () => fail('connection closed', 'warn'));
    manager.on('managerevent', (frame: AmiFrame) => {
      if (this.manager !== manager) return;
      const record = flattenFrame(frame);
      if (this.held) this.held.push(record);
      else this.options.onEvent(record);
    });
    manager.connect(port, host, () => {
      if (this.manager !== manager) return;
      manager.login((error) => {
        if (this.manager !== manager) return;
        if (error) {
          const message = loginMessage(error);
          fail(
            `AMI login refused (${message}): check AMI_USERNAME and AMI_SECRET, and that manager.conf permits this host`,
            'error',
          );
          return;
        }
        this.failures = 0;
        this.status.connected = true;
        this.status.connectedSince = this.options.scheduler.now();
        logger.info('AMI connected', { host, port });
        const onTimeout = () => fail('CoreShowChannels got no complete answer', 'warn');
        this.listChannels(manager, onTimeout);
        this.schedulePing(manager, fail);
        this.scheduleResync(manager, onTimeout);
      });
    });
  }

  /** CoreShowChannels, holding live events until the list is complete. */
  private listChannels(manager: Manager, onTimeout: () => void) {
    this.held = [];
    const channels: ChannelSnapshot[] = [];
    let actionId = '';
    let cancelTimeout: (() => void) | undefined;
    const listener = (frame: AmiFrame) => {
      const record = flattenFrame(frame);
      if (record.actionid !== actionId) return;
      if (record.event === 'CoreShowChannel') {
        if (record.channel && record.uniqueid && record.linkedid) {
          channels.push({
            channel: record.channel,
            uniqueid: record.uniqueid,
            linkedid: record.linkedid,
            calleridnum: record.calleridnum,
            context: record.context,
            exten: record.exten,
            channelstatedesc: record.channelstatedesc,
            bridgeid: record.bridgeid,
          });
        }
      } else if (record.event === 'CoreShowChannelsComplete') {
        cancelTimeout?.();
        manager.removeListener('managerevent', listener);
        const held = this.held ?? [];
        this.held = undefined;
        this.options.onResync(channels);
        for (const event of held) {
          if (event.actionid !== actionId) this.options.onEvent(event);
        }
      }
    };
    manager.on('managerevent', listener);
    actionId = manager.action({ action: 'CoreShowChannels' }, (error) => {
      if (!error || this.manager !== manager) {
        if (!error) this.status.resyncRefused = undefined;
        return;
      }
      // Without the list the bridge still follows live events; calls in progress at connect time are missed.
      cancelTimeout?.();
      manager.removeListener('managerevent', listener);
      const reason = typeof error.message === 'string' ? error.message.slice(0, 200) : 'refused';
      this.status.resyncRefused = `CoreShowChannels refused (${reason}): give the AMI user "write = reporting" in manager.conf`;
      this.options.logger.error(this.status.resyncRefused);
      const held = this.held ?? [];
      this.held = undefined;
      for (const event of held) this.options.onEvent(event);
    });
    cancelTimeout = this.options.scheduler.after(this.options.listTimeoutMs ?? 30_000, () => {
      if (this.manager === manager && this.held) onTimeout();
    });
  }

  private scheduleResync(manager: Manager, onTimeout: () => void) {
    const interval = this.options.resyncIntervalMs ?? 0;
    if (interval <= 0) return;
    this.cancelResync?.();
    this.cancelResync = this.options.scheduler.after(interval, () => {
      if (this.manager !== manager) return;
      if (!this.held) this.listChannels(manager, onTimeout);
      this.scheduleResync(manager, onTimeout);
    });
  }

  private schedulePing(manager: Manager, fail: (reason: string, level: 'warn' | 'error') => void) {
    const interval = this.options.pingIntervalMs ?? 30_000;
    if (interval <= 0) return;
    this.cancelPing = this.options.scheduler.after(interval, () => {
      if (this.manager !== manager) return;
      let answered = false;
      manager.action({ action: 'Ping' }, () => {
        answered = true;
      });
      this.cancelPing = this.options.scheduler.after(Math.min(interval, 10_000), () => {
        if (this.manager !== manager) return;
        if (!answered) fail('no answer to Ping', 'warn');
        else this.schedulePing(manager, fail);
      });
    });
  }
}

const loginMessage = (error: AmiFrame | Error): string => {
  if (error instanceof Error) return error.message;
  const message = error.message;
  return typeof message === 'string' ? message.slice(0, 200) : 'no reason given';
};
