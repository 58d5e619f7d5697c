/**
 * Drains the outbox: per call, one event in flight at a time and in the order they were produced (a ringing
 * must not overtake nothing, an ended must not overtake its answered); different calls go in parallel up to
 * `concurrency`. A failed attempt waits with exponential backoff and jitter, then the *same* entry is tried
 * again (same webhook-id), so Callbridge sees each event once however many attempts it took.
 */
import type { Logger } from '../../lambdas/ports';
import { backoffDelay, type Scheduler } from './backoff';
import type { Outbox, OutboxEntry } from './outbox';
import type { Send } from './sender';

export interface DeliveryOptions {
  outbox: Outbox;
  send: Send;
  scheduler: Scheduler;
  logger: Logger;
  retryBaseMs: number;
  retryMaxMs: number;
  concurrency: number;
  random?: () => number;
}

export interface DeliveryStatus {
  delivered: number;
  attempts: number;
  failures: number;
  deadLettered: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastFailure?: string;
}

export class Delivery {
  private readonly inFlight = new Set<string>();
  /** Per call: failed attempts of its head entry and when it may be tried again. */
  private readonly waits = new Map<string, { attempts: number; until: number }>();
  private wake: (() => void) | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];
  readonly status: DeliveryStatus = { delivered: 0, attempts: 0, failures: 0, deadLettered: 0 };

  constructor(private readonly options: DeliveryOptions) {}

  /** Look for work: call after appending to the outbox and on start. */
  kick(): void {
    if (this.stopped) return;
    const now = this.options.scheduler.now();
    const heads = this.options.outbox.heads();
    let nextWake = Number.POSITIVE_INFINITY;
    for (const entry of heads) {
      const key = entry.key;
      if (this.inFlight.size >= this.options.concurrency) break;
      if (this.inFlight.has(key)) continue;
      const wait = this.waits.get(key);
      if (wait && wait.until > now) {
        nextWake = Math.min(nextWake, wait.until);
        continue;
      }
      this.inFlight.add(key);
      void this.attempt(key, entry);
    }
    if (nextWake < this.wakeAt) {
      this.wake?.();
      this.wakeAt = nextWake;
      this.wake = this.options.scheduler.after(Math.max(0, nextWake - now), () => {
        this.wake = undefined;
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.kick();
      });
    }
    if (heads.length === 0 && this.inFlight.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Attempts under way now. */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Resolves when the outbox is empty and nothing is in flight (tests, and a graceful stop). */
  idle(): Promise<void> {
    if (this.options.outbox.depth === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
    this.wake = undefined;
  }

  private async attempt(key: string, entry: OutboxEntry) {
    const { logger, scheduler } = this.options;
    this.status.attempts++;
    try {
      const result = await this.options.send(entry);
      if (this.stopped) return;
      if (result.kind === 'delivered') {
        await this.options.outbox.remove(entry);
        this.waits.delete(key);
        this.status.delivered++;
        this.status.lastSuccessAt = scheduler.now();
      } else if (result.kind === 'rejected') {
        // Never retried: the same body would be refused the same way. Kept for a person in dead/.
        await this.options.outbox.deadLetter(entry, { status: result.status, detail: result.detail });
        this.waits.delete(key);
        this.status.deadLettered++;
        logger.error('call event refused by Callbridge; moved to dead/', {
          webhookId: entry.id,
          status: result.status,
          detail: result.detail,
        });
      } else {
        const attempts = (this.waits.get(key)?.attempts ?? 0) + 1;
        const delay = Math.max(
          result.retryAfterMs ?? 0,
          backoffDelay(
            attempts,
            this.options.retryBaseMs,
            this.options.retryMaxMs,
            this.options.random ?? Math.random,
          ),
        );
        this.waits.set(key, { attempts, until: scheduler.now() + delay });
        this.status.failures++;
        this.status.lastFailureAt = scheduler.now();
        this.status.lastFailure = result.reason;
        logger.warn('call event not delivered; will retry', {
          webhookId: entry.id,
          attempt: attempts,
          retryInMs: delay,
          reason: result.reason,
        });
      }
    } catch (error) {
      // Disk trouble while removing or dead-lettering: leave the entry, try again later.
      const attempts = (this.waits.get(key)?.attempts ?? 0) + 1;
      this.waits.set(key, { attempts, until: scheduler.now() + this.options.retryMaxMs });
      logger.error('outbox update failed', { webhookId: entry.id, error: String(error) });
    } finally {
      this.inFlight.delete(key);
      this.kick();
    }
  }
}
