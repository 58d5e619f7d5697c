/**
 * The bridge assembled: AMI session → tracker → outbox (on disk first) → delivery to Callbridge. A factory
 * taking its dependencies, so tests run the very same wiring in-process with a controllable scheduler, and
 * `main.ts` runs it with the real ones.
 */
import type { Server } from 'node:http';
import type { Logger } from '../../lambdas/ports';
import { AmiConnection } from './ami-connection';
import { parseAmiEvent } from './ami-events';
import { realScheduler, type Scheduler } from './backoff';
import { makeClassifier } from './classify';
import type { BridgeConfig } from './config';
import { Delivery } from './delivery';
import { type HealthReport, healthReport, startHealthServer, statusLine } from './health';
import { Outbox } from './outbox';
import { makeSender, type Send } from './sender';
import { loadTrackerState, saveTrackerState } from './state-store';
import { CallTracker, type Emitted } from './tracker';

export interface BridgeDeps {
  logger: Logger;
  /** Timers for retries, reconnects and ring batching; the real clock unless a test drives time. */
  scheduler?: Scheduler;
  /** Replaces the HTTP sender (benchmarks count without a network). */
  send?: Send;
  random?: () => number;
  /** How often the tracker's state is written to disk. */
  persistIntervalMs?: number;
  pingIntervalMs?: number;
}

export interface RunningBridge {
  health(): HealthReport;
  healthUrl?: string;
  /** Resolves when every event produced so far is stored and delivered (or dead-lettered). */
  drained(): Promise<void>;
  stop(): Promise<void>;
  tracker: CallTracker;
  outbox: Outbox;
  delivery: Delivery;
  ami: AmiConnection;
}

export const startBridge = async (config: BridgeConfig, deps: BridgeDeps): Promise<RunningBridge> => {
  const { logger } = deps;
  const scheduler = deps.scheduler ?? realScheduler;
  const outbox = await Outbox.open(config.dataDir, () => scheduler.now());
  const loaded = await loadTrackerState(config.dataDir);
  if (loaded.problem) logger.warn(loaded.problem);
  let malformed = 0;
  const tracker = new CallTracker(
    {
      classifier: makeClassifier(config.classify),
      ringBatchMs: config.tuning.ringBatchMs,
      ...(config.recording ? { recording: config.recording } : {}),
      onInvalid: (callId, problem) =>
        logger.error('call event failed the CallEvent contract; dropped', { callId, problem }),
    },
    loaded.state,
  );
  const delivery = new Delivery({
    outbox,
    send:
      deps.send ??
      makeSender({
        url: config.webhook.url,
        secret: config.webhook.secret,
        timeoutMs: config.tuning.requestTimeoutMs,
      }),
    scheduler,
    logger,
    retryBaseMs: config.tuning.retryBaseMs,
    retryMaxMs: config.tuning.retryMaxMs,
    concurrency: config.tuning.sendConcurrency,
    ...(deps.random ? { random: deps.random } : {}),
  });

  // Appends are chained so the outbox keeps the order the tracker produced events in.
  let storing: Promise<void> = Promise.resolve();
  let dirty = false;
  const enqueue = (emitted: Emitted[]) => {
    if (emitted.length === 0) return;
    storing = storing
      .then(async () => {
        await outbox.append(emitted.map((e) => ({ id: e.id, key: e.key, body: JSON.stringify(e.event) })));
        delivery.kick();
      })
      .catch((error: unknown) => {
        // The disk refused: nothing was acknowledged to anyone; the resync after a restart re-emits.
        logger.error('could not store call events', { error: String(error), events: emitted.length });
      });
  };

  const ami = new AmiConnection({
    host: config.ami.host,
    port: config.ami.port,
    username: config.ami.username,
    secret: config.ami.secret,
    reconnectBaseMs: config.tuning.reconnectBaseMs,
    reconnectMaxMs: config.tuning.reconnectMaxMs,
    resyncIntervalMs: config.tuning.resyncIntervalMs,
    ...(deps.pingIntervalMs !== undefined ? { pingIntervalMs: deps.pingIntervalMs } : {}),
    scheduler,
    logger,
    ...(deps.random ? { random: deps.random } : {}),
    onEvent: (record) => {
      const parsed = parseAmiEvent(record);
      if (parsed.kind === 'malformed') {
        malformed++;
        // The event name and the rule broken, never the frame: it carries phone numbers.
        logger.warn('skipped malformed AMI frame', { event: parsed.eventName, problem: parsed.reason });
        return;
      }
      if (parsed.kind !== 'event') return;
      try {
        enqueue(tracker.handle(parsed.event, scheduler.now()));
      } catch (error) {
        malformed++;
        logger.error('AMI event could not be applied; skipped', {
          event: parsed.event.event,
          error: String(error),
        });
      }
      dirty = true;
    },
    onResync: (channels) => {
      const emitted = tracker.resync(channels, scheduler.now());
      logger.info('resynchronised with CoreShowChannels', {
        channels: channels.length,
        activeCalls: tracker.activeCalls,
        events: emitted.length,
      });
      enqueue(emitted);
      dirty = true;
    },
  });

  const health = (): HealthReport =>
    healthReport({
      now: scheduler.now(),
      ami: ami.status,
      delivery: delivery.status,
      outboxDepth: outbox.depth,
      oldestEnqueuedAt: outbox.oldestEnqueuedAt(),
      deadLetters: outbox.deadCount,
      activeCalls: tracker.activeCalls,
      malformed,
    });

  // Periodic work: ring batches that timed out, the state snapshot, the status line.
  const timers: { cancel: () => void }[] = [];
  let stopped = false;
  const every = (ms: number, fn: () => void) => {
    const slot = { cancel: () => {} };
    const loop = () => {
      if (stopped) return;
      fn();
      slot.cancel = scheduler.after(ms, loop);
    };
    slot.cancel = scheduler.after(ms, loop);
    timers.push(slot);
  };
  every(Math.max(20, Math.floor(config.tuning.ringBatchMs / 2) || 20), () => {
    const emitted = tracker.tick(scheduler.now());
    if (emitted.length > 0) dirty = true;
    enqueue(emitted);
  });
  let persisting: Promise<void> = Promise.resolve();
  const persist = () => {
    if (!dirty) return persisting;
    dirty = false;
    const snapshot = JSON.parse(JSON.stringify(tracker.snapshot()));
    persisting = persisting
      .then(() => saveTrackerState(config.dataDir, snapshot))
      .catch((error: unknown) => logger.error('could not save tracker state', { error: String(error) }));
    return persisting;
  };
  every(deps.persistIntervalMs ?? 500, () => void persist());
  if (config.tuning.statusIntervalMs > 0) {
    every(config.tuning.statusIntervalMs, () => {
      const report = health();
      logger.info(statusLine(report), { status: report.status, problems: report.problems });
    });
  }

  let healthServer: Server | undefined;
  let healthUrl: string | undefined;
  if (config.health) {
    const started = await startHealthServer(config.health.host, config.health.port, health);
    healthServer = started.server;
    healthUrl = started.url;
    logger.info('health endpoint listening', { url: healthUrl });
  }

  logger.info('bridge started', {
    ami: `${config.ami.host}:${config.ami.port}`,
    outboxDepth: outbox.depth,
    restoredCalls: tracker.activeCalls,
  });
  delivery.kick();
  ami.start();

  return {
    health,
    ...(healthUrl ? { healthUrl } : {}),
    tracker,
    outbox,
    delivery,
    ami,
    async drained() {
      await storing;
      await delivery.idle();
    },
    async stop() {
      stopped = true;
      for (const timer of timers) timer.cancel();
      ami.stop();
      await storing;
      delivery.stop();
      dirty = true;
      await persist();
      if (healthServer) await new Promise<void>((resolve) => healthServer?.close(() => resolve()));
    },
  };
};
