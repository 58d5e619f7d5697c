/**
 * What the bridge says about itself: AMI connected or not, outbox depth and age, last successful delivery.
 * The same report feeds an optional HTTP endpoint (loopback by default: the bridge needs no inbound port, this
 * one is for a local monitor or a container health check) and a periodic status line in the log.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AmiStatus } from './ami-connection';
import type { DeliveryStatus } from './delivery';

export interface HealthReport {
  status: 'ok' | 'degraded';
  problems: string[];
  ami: { connected: boolean; connectedSince?: string; lastError?: string; reconnects: number };
  outbox: { depth: number; oldestAgeSeconds?: number; deadLetters: number };
  delivery: { delivered: number; failures: number; lastSuccessAt?: string; lastFailure?: string };
  calls: { active: number };
  malformedAmiFrames: number;
  memory: { rssMb: number; heapUsedMb: number };
}

export interface HealthInputs {
  now: number;
  ami: AmiStatus;
  delivery: DeliveryStatus;
  outboxDepth: number;
  oldestEnqueuedAt: number | undefined;
  deadLetters: number;
  activeCalls: number;
  malformed: number;
}

/** An event waiting longer than this means Callbridge has been unreachable for a while. */
export const STALE_OUTBOX_SECONDS = 120;

const memory = () => {
  const usage = process.memoryUsage();
  return { rssMb: Math.round(usage.rss / 2 ** 20), heapUsedMb: Math.round(usage.heapUsed / 2 ** 20) };
};

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export const healthReport = (inputs: HealthInputs): HealthReport => {
  const problems: string[] = [];
  if (!inputs.ami.connected)
    problems.push(`AMI not connected${inputs.ami.lastError ? `: ${inputs.ami.lastError}` : ''}`);
  if (inputs.ami.resyncRefused) problems.push(inputs.ami.resyncRefused);
  const oldestAge =
    inputs.oldestEnqueuedAt === undefined
      ? undefined
      : Math.round((inputs.now - inputs.oldestEnqueuedAt) / 1000);
  if (oldestAge !== undefined && oldestAge > STALE_OUTBOX_SECONDS) {
    problems.push(
      `oldest undelivered event is ${oldestAge} s old${inputs.delivery.lastFailure ? ` (${inputs.delivery.lastFailure})` : ''}`,
    );
  }
  if (inputs.deadLetters > 0)
    problems.push(`${inputs.deadLetters} event(s) refused by Callbridge, kept in dead/`);
  return {
    status: problems.length === 0 ? 'ok' : 'degraded',
    problems,
    ami: {
      connected: inputs.ami.connected,
      ...(inputs.ami.connectedSince ? { connectedSince: iso(inputs.ami.connectedSince) } : {}),
      ...(inputs.ami.lastError ? { lastError: inputs.ami.lastError } : {}),
      reconnects: inputs.ami.reconnects,
    },
    outbox: {
      depth: inputs.outboxDepth,
      ...(oldestAge !== undefined ? { oldestAgeSeconds: oldestAge } : {}),
      deadLetters: inputs.deadLetters,
    },
    delivery: {
      delivered: inputs.delivery.delivered,
      failures: inputs.delivery.failures,
      ...(inputs.delivery.lastSuccessAt ? { lastSuccessAt: iso(inputs.delivery.lastSuccessAt) } : {}),
      ...(inputs.delivery.lastFailure ? { lastFailure: inputs.delivery.lastFailure } : {}),
    },
    calls: { active: inputs.activeCalls },
    malformedAmiFrames: inputs.malformed,
    memory: memory(),
  };
};

/** One log line: what an admin greps for in journalctl. */
export const statusLine = (report: HealthReport): string =>
  `status=${report.status} ami=${report.ami.connected ? 'connected' : 'down'} outbox=${report.outbox.depth} ` +
  `dead=${report.outbox.deadLetters} delivered=${report.delivery.delivered} last_success=${report.delivery.lastSuccessAt ?? 'never'}`;

/** GET /health → 200 when ok, 503 when degraded, with the report as JSON. */
export const startHealthServer = (
  host: string,
  port: number,
  report: () => HealthReport,
): Promise<{ server: Server; url: string }> =>
  new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url !== '/health' && req.url !== '/')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"GET /health"}');
        return;
      }
      const body = report();
      res.writeHead(body.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address() as AddressInfo;
      resolve({ server, url: `http://${host}:${address.port}/health` });
    });
  });
