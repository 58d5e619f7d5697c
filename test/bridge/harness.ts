/**
 * A PBX, a bridge and Callbridge on loopback: the scripted AMI server replaying recorded transcripts, the real
 * bridge (in-process, or as a child process via its entry point), and the real local stack behind a small HTTP
 * relay that records what reaches Callbridge and can play "Callbridge is down".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallEvent, CallMessage, ServerMessage } from '../../lambdas/core/protocol';
import type { LogFields, Logger } from '../../lambdas/ports';
import { CallTracker as WidgetCalls } from '../../widget/src/calls';
import { type ExpectedEvent, summarise } from './scenarios';

export const AMI_USER = 'callbridge';
export const AMI_SECRET = 'ami-secret-for-tests';

/** Kommo users and the extensions the admin mapped them to (the recorded PBXs' endpoints). */
export const AGENTS: Record<string, number> = {
  '1986': 11,
  '21': 12,
  '150010001': 21,
  '150010002': 22,
  '150010003': 23,
  '260010001': 24,
  '11': 31,
  '12': 32,
  '41': 34,
  '42': 35,
  '51': 36,
};
export const agentMap = (): Record<string, string> =>
  Object.fromEntries(Object.entries(AGENTS).map(([ext, user]) => [String(user), ext]));

const dataDirs: string[] = [];
export const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'callbridge-bridge-'));
  dataDirs.push(dir);
  return dir;
};
/** Remove the data directories this test file created (call from afterAll, after the bridges stopped). */
export const removeDataDirs = () => {
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
};

export interface Delivery {
  id: string;
  status: number;
  event: CallEvent;
  result: Record<string, unknown>;
}

/** In front of Callbridge: forwards webhooks, records every attempt, and can refuse them all ("down"). */
export class Relay {
  private server: Server | undefined;
  url = '';
  down = false;
  readonly attempts: { id: string; at: number; forwarded: boolean }[] = [];
  readonly deliveries: Delivery[] = [];

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, headers, body }) => res.writeHead(status, headers).end(body),
        () => res.writeHead(502).end(),
      );
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    const address = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${address.port}`;
  }

  private async handle(req: IncomingMessage) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const id = String(req.headers['webhook-id'] ?? '');
    this.attempts.push({ id, at: Date.now(), forwarded: !this.down });
    if (this.down) {
      req.socket.destroy();
      throw new Error('down');
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && k !== 'host') headers[k] = v;
    const res = await fetch(`${this.target}${req.url}`, { method: 'POST', headers, body });
    const text = await res.text();
    const result = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.status < 300)
      this.deliveries.push({ id, status: res.status, event: JSON.parse(body) as CallEvent, result });
    return {
      status: res.status,
      headers: { 'content-type': res.headers.get('content-type') ?? 'application/json' },
      body: text,
    };
  }

  /** What Callbridge accepted, once per webhook-id, in arrival order. */
  accepted(): Delivery[] {
    const seen = new Set<string>();
    return this.deliveries.filter((d) => {
      if (seen.has(d.id)) return false;
      seen.add(d.id);
      return true;
    });
  }

  async waitFor(count: number, timeoutMs = 10_000): Promise<Delivery[]> {
    const started = Date.now();
    while (this.accepted().length < count) {
      if (Date.now() - started > timeoutMs) {
        throw new Error(
          `only ${this.accepted().length}/${count} call events reached Callbridge in ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.accepted();
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export const captureLogger = () => {
  const lines: { level: string; message: string; fields: LogFields }[] = [];
  const logger: Logger = {
    info: (message, fields = {}) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields = {}) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields = {}) => lines.push({ level: 'error', message, fields }),
  };
  return { logger, lines };
};

export const bridgeEnv = (
  relayUrl: string,
  amiPort: number,
  dir: string,
  extra: Record<string, string> = {},
) => ({
  AMI_HOST: '127.0.0.1',
  AMI_PORT: String(amiPort),
  AMI_USERNAME: AMI_USER,
  AMI_SECRET: AMI_SECRET,
  CALLBRIDGE_WEBHOOK_URL: `${relayUrl}/webhooks/acme`,
  BRIDGE_DATA_DIR: dir,
  BRIDGE_RING_BATCH_MS: '40',
  BRIDGE_STATUS_INTERVAL_MS: '0',
  AMI_RECONNECT_BASE_MS: '50',
  AMI_RECONNECT_MAX_MS: '400',
  BRIDGE_RETRY_BASE_MS: '50',
  BRIDGE_RETRY_MAX_MS: '400',
  ...extra,
});

/**
 * What each agent's socket must show for a sequence of call events, under the backend's rule that a call's
 * recipients only grow (record.users is the union of every event's agents): per user, the (call, state) pushes.
 */
export const expectedPushes = (events: readonly ExpectedEvent[]): Map<number, string[]> => {
  const recipients = new Map<string, Set<number>>();
  const pushes = new Map<number, string[]>();
  for (const event of events) {
    const users = recipients.get(event.id) ?? new Set<number>();
    for (const ext of event.agents) {
      const user = AGENTS[ext];
      if (user !== undefined) users.add(user);
    }
    recipients.set(event.id, users);
    for (const user of users) {
      const list = pushes.get(user) ?? [];
      list.push(`${event.id} ${event.type.replace('call.', '')}`);
      pushes.set(user, list);
    }
  }
  return pushes;
};

export const pushesOf = (messages: readonly ServerMessage[]): string[] =>
  messages.filter((m): m is CallMessage => m.type === 'call').map((m) => `${m.view.call.id} ${m.view.state}`);

/** The widget's own rules applied to what a socket received: which pop-ups and missed-call notes it shows. */
export const popupsOf = (messages: readonly ServerMessage[]): string[] => {
  const calls = new WidgetCalls();
  return messages
    .filter((m): m is CallMessage => m.type === 'call')
    .flatMap((m) => calls.apply(m.view, Date.now()))
    .map((effect) => `${effect.view.call.id} ${effect.kind}`);
};

export const summaries = (deliveries: readonly Delivery[]) => deliveries.map((d) => summarise(d.event));

/**
 * Events grouped per call (a Linkedid, transfer segments included), each group in order: the bridge promises
 * order within a call; separate calls are delivered in parallel.
 */
export const perCall = <T extends { id: string }>(events: readonly T[]): Record<string, T[]> => {
  const groups: Record<string, T[]> = {};
  for (const event of events) {
    const key = event.id.replace(/:t\d+$/, '');
    groups[key] = [...(groups[key] ?? []), event];
  }
  return groups;
};

export const waitUntil = async (test: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> => {
  const started = Date.now();
  while (!test()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
