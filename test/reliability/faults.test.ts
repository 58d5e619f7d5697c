/**
 * Faults: DynamoDB failing in the middle of a webhook, and the whole local stack killed and restarted under
 * traffic. (PostToConnection answering 410, 429 or hanging is covered in test/backend/push.test.ts.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { mintKommoToken } from '../../infra/local/kommo-token';
import { buildCallEvent } from '../../infra/local/signed-call';
import { signWebhook } from '../../lambdas/core/webhook-signature';
import { CallTracker } from '../../widget/src/calls';
import { CallbridgeSocket, type WebSocketConstructor } from '../../widget/src/socket';
import { callEvent, startTestStack, type TestStack } from '../helpers/stack';

/**
 * The widget's socket and call tracker: `received` is what the agent sees, one entry per pop-up, whether the
 * call came as a push or in a resume's snapshot.
 */
const client = (url: string, getTicketUrl: () => Promise<string>) => {
  const received: { id: string; state: string }[] = [];
  const tracker = new CallTracker();
  const socket = new CallbridgeSocket({
    getUrl: getTicketUrl,
    onMessage: (m) => {
      const now = Date.now();
      const effects =
        m.type === 'call'
          ? tracker.apply(m.view, now)
          : m.type === 'snapshot'
            ? tracker.reconcile(m.calls, now, { recent: m.recent, last: (m.page ?? 1) >= (m.pages ?? 1) })
            : [];
      for (const e of effects)
        if (e.kind === 'popup') received.push({ id: e.view.call.id, state: e.view.state });
    },
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    random: () => 0.2,
  });
  void url;
  return { socket, received };
};

describe('DynamoDB failing in the middle of a webhook', () => {
  let t: TestStack;
  /** Fail the first request that `matches`, once, as an unavailable table would (the SDK's retries are past). */
  let plan: ((command: string, input: Record<string, unknown>) => boolean) | undefined;
  beforeAll(async () => {
    t = await startTestStack();
    t.stack.dynamoOf('webhook').middlewareStack.add(
      (next, context) => async (args) => {
        if (plan?.(context.commandName ?? '', args.input as Record<string, unknown>)) {
          plan = undefined;
          throw Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectFaults' },
    );
  });
  afterAll(() => t.stop());

  // What the webhook's own requests touch (the socket's resume and tickets make requests of their own).
  const key = (input: Record<string, unknown>) =>
    String(
      (input.Key as { pk?: string } | undefined)?.pk ?? (input.Item as { pk?: string } | undefined)?.pk ?? '',
    );
  const isCall = (input: Record<string, unknown>) => key(input).includes('#CALL#');
  const isMarker = (input: Record<string, unknown>) =>
    String((input.Item as { sk?: string } | undefined)?.sk ?? '').startsWith('M#');
  const isSeq = (input: Record<string, unknown>) => (input.Key as { sk?: string } | undefined)?.sk === 'SEQ';
  it.each<[string, string, (input: Record<string, unknown>) => boolean]>([
    ['reading the call (before anything happened)', 'GetItemCommand', isCall],
    ['taking the seq', 'UpdateItemCommand', isSeq],
    ['saving the call state', 'PutItemCommand', isCall],
    ['indexing the call for resume', 'PutItemCommand', isMarker],
  ])(
    'fails while %s: the provider gets 5xx, and its retry delivers exactly once',
    async (label, command, match) => {
      const userId = 900 + label.length;
      const agent = client(t.stack.url, async () => (await t.ticket(userId)).url);
      agent.socket.start();
      await expect.poll(() => agent.socket.isOpen).toBe(true);
      const event = callEvent('call.ringing', { users: [userId] });
      const id = `msg_fault_${label.replace(/\W+/g, '_')}`;
      plan = (name, input) => name === command && match(input);
      const first = await t.webhook(event, { id });
      plan = undefined;
      expect(first.status).toBeGreaterThanOrEqual(500);
      const retry = await t.webhook(event, { id });
      expect(retry.status).toBe(202);
      expect(retry.body).toMatchObject({ status: 'accepted', sockets: 1 });
      await expect.poll(() => agent.received.filter((r) => r.id === event.call.id).length).toBe(1);
      await new Promise((r) => setTimeout(r, 150));
      expect(agent.received.filter((r) => r.id === event.call.id)).toHaveLength(1);
      // And a resume finds it, once.
      const indexed = await t.stack.state.callIdsOf('acme', userId, Date.now());
      expect(indexed.filter((id) => id === event.call.id)).toHaveLength(1);
      agent.socket.stop();
    },
  );
});

const listenable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** A free port whose next one is free too: `npm start` runs the Kommo emulator on PORT+1. */
const freePort = async (): Promise<number> => {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    if (port < 65_535 && (await listenable(port + 1))) return port;
  }
};

describe('the local stack killed and restarted under traffic', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('loses no accepted event, and the client resumes', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'callbridge-restart-'));
    let port = await freePort();
    let url = `http://127.0.0.1:${port}`;
    const clientSecret = 'restart-test-integration-secret-000';
    const webhookSecret = 'whsec_cmVzdGFydC10ZXN0LXdlYmhvb2stc2VjcmV0';
    const start = () =>
      new Promise<ChildProcess>((resolve, reject) => {
        // tsx as a loader, not its CLI: the CLI runs the script in a child of its own, which SIGKILL would miss.
        const child = spawn(
          process.execPath,
          [
            '--import',
            pathToFileURL(join(process.cwd(), 'node_modules/tsx/dist/loader.mjs')).href,
            join(process.cwd(), 'infra/local/main.ts'),
          ],
          {
            cwd,
            env: {
              ...process.env,
              PORT: String(port),
              KOMMO_CLIENT_SECRET: clientSecret,
              WEBHOOK_SECRET: webhookSecret,
              WEBHOOK_CLAIM_LEASE_MS: '1000',
            },
          },
        );
        children.push(child);
        let out = '';
        child.stdout?.on('data', (chunk) => {
          out += chunk;
          if (out.includes('Webhook secret')) resolve(child);
        });
        child.stderr?.on('data', (chunk) => {
          out += chunk;
        });
        child.once('exit', (code) => reject(new Error(`stack exited ${code}: ${out}`)));
      });

    // The free ports may be taken by another test's server before the stack binds them: try others.
    const startOnFreePort = async (attempt = 0): Promise<ChildProcess> => {
      try {
        return await start();
      } catch (error) {
        if (attempt >= 2 || !/EADDRINUSE|already in use/.test(String(error))) throw error;
        port = await freePort();
        url = `http://127.0.0.1:${port}`;
        return startOnFreePort(attempt + 1);
      }
    };
    let stack = await startOnFreePort();
    const agent = client(url, async () => {
      const token = await mintKommoToken({
        subdomain: 'demo',
        clientSecret,
        integrationId: 'callbridge-local',
        userId: 101,
      });
      const res = await fetch(`${url}/tickets`, { method: 'POST', headers: { 'x-auth-token': token } });
      if (res.status !== 201) throw new Error(`tickets ${res.status}`);
      return ((await res.json()) as { url: string }).url;
    });
    agent.socket.start();
    await expect.poll(() => agent.socket.isOpen, { timeout: 10_000 }).toBe(true);

    // A provider: each webhook is retried, with the same id, until it gets a 2xx.
    const send = async (i: number) => {
      const body = JSON.stringify(
        buildCallEvent({
          type: 'call.ringing',
          callId: `r${i}`,
          from: '+15551234567',
          to: 'ext 101',
          users: [101],
        }),
      );
      for (let attempt = 0; attempt < 200; attempt++) {
        try {
          const headers = signWebhook(webhookSecret, `msg_restart_${i}`, Math.floor(Date.now() / 1000), body);
          const res = await fetch(`${url}/webhooks/demo`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body,
          });
          if (res.status === 202 || res.status === 200) return;
        } catch {
          // Connection refused while the stack is down.
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`webhook ${i} never accepted`);
    };

    const total = 40;
    const traffic = (async () => {
      for (let i = 0; i < total; i++) {
        await send(i);
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await expect.poll(() => agent.received.length, { timeout: 10_000 }).toBeGreaterThan(8);
    stack.kill('SIGKILL');
    await new Promise((r) => stack.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    stack = await start();
    await traffic;
    const expected = Array.from({ length: total }, (_, i) => `r${i}`);
    await expect.poll(() => new Set(agent.received.map((r) => r.id)).size, { timeout: 20_000 }).toBe(total);
    expect(agent.received.map((r) => r.id).sort()).toEqual(expected.sort());
    agent.socket.stop();
  }, 90_000);
});
