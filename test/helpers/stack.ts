import { ScanCommand } from '@aws-sdk/client-dynamodb';
import WebSocket from 'ws';
import { mintKommoToken } from '../../infra/local/kommo-token';
import {
  assertNoDenials,
  LOCAL_TABLES,
  type LocalStackOptions,
  startLocalStack,
} from '../../infra/local/stack';
import { type AccountRecord, newAccount } from '../../lambdas/core/accounts';
import type { CallEvent, ServerMessage } from '../../lambdas/core/protocol';
import { signWebhook } from '../../lambdas/core/webhook-signature';

export const CLIENT_SECRET = 'kommo-integration-secret-key-0123456789';
export const OTHER_SECRET = 'another-integration-secret-key-987654321';

export type TestStack = Awaited<ReturnType<typeof startTestStack>>;

let webhookCounter = 0;

/** Tests run with DynamoDB's indexes behind their tables, as on AWS: a design that needs them fresh fails here. */
export const TEST_INDEX_LAG_MS = 250;

export const startTestStack = async (options: LocalStackOptions = {}) => {
  const stack = await startLocalStack({ accountCacheMs: 0, indexLagMs: TEST_INDEX_LAG_MS, ...options });
  const acme = newAccount(
    { subdomain: 'acme', integrationId: 'int-acme', clientSecret: CLIENT_SECRET },
    Date.now(),
  );
  const globex = newAccount(
    { subdomain: 'globex', integrationId: 'int-globex', clientSecret: OTHER_SECRET },
    Date.now(),
  );
  await stack.accounts.putAccount(acme);
  await stack.accounts.putAccount(globex);

  const token = (userId: number, opts: { account?: AccountRecord; isAdmin?: boolean } = {}) => {
    const account = opts.account ?? acme;
    return mintKommoToken({
      subdomain: account.subdomain,
      clientSecret: account.clientSecret,
      integrationId: account.integrationId,
      userId,
      isAdmin: opts.isAdmin,
    });
  };

  const post = (path: string, init: RequestInit = {}) =>
    fetch(`${stack.url}${path}`, { method: 'POST', ...init });

  const ticket = async (userId: number, account: AccountRecord = acme) => {
    const res = await post('/tickets', { headers: { 'x-auth-token': await token(userId, { account }) } });
    if (res.status !== 201) throw new Error(`ticket: ${res.status} ${await res.text()}`);
    return (await res.json()) as { ticket: string; url: string; seq: number };
  };

  const connect = async (userId: number, account: AccountRecord = acme) => {
    const { url } = await ticket(userId, account);
    return TestSocket.open(url);
  };

  const webhook = async (
    event: CallEvent | string,
    opts: {
      subdomain?: string;
      secret?: string;
      id?: string;
      timestamp?: number;
      headers?: Record<string, string | undefined>;
    } = {},
  ) => {
    const body = typeof event === 'string' ? event : JSON.stringify(event);
    const id = opts.id ?? `msg_${Date.now()}_${++webhookCounter}`;
    const signed = signWebhook(
      opts.secret ?? acme.webhookSecrets[0]?.secret ?? '',
      id,
      opts.timestamp ?? Math.floor(Date.now() / 1000),
      body,
    );
    const headers: Record<string, string> = { 'content-type': 'application/json', ...signed };
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      if (v === undefined) delete headers[k];
      else headers[k] = v;
    }
    const res = await post(`/webhooks/${opts.subdomain ?? 'acme'}`, { headers, body });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  };

  /**
   * Every item of the state table but the sockets' own bookkeeping (a socket by id, a user's CONNS item, the
   * ticket and message counters), which earlier tests' sockets change as their $disconnect lands: "nothing
   * stored" is asserted by comparing two. `exceptSeq` also leaves out the account's seq counter, which a
   * valid webhook advances before it knows whether it is a duplicate (it is taken beside the claim, to save
   * a round trip): for "a duplicate stores nothing".
   */
  const items = async (options: { exceptSeq?: boolean } = {}) => {
    const { Items = [] } = await stack.dynamo.send(new ScanCommand({ TableName: LOCAL_TABLES.state }));
    return Items.filter(
      (item) =>
        !item.pk?.S?.startsWith('C#') &&
        item.sk?.S !== 'CONNS' &&
        !item.sk?.S?.startsWith('RATE#') &&
        !(options.exceptSeq && item.sk?.S === 'SEQ'),
    )
      .map((item) => `${item.pk?.S}|${item.sk?.S}|${JSON.stringify(item)}`)
      .sort();
  };

  const stop = async () => {
    await stack.stop();
    assertNoDenials(stack);
  };
  return { stack, acme, globex, token, ticket, connect, webhook, post, items, stop };
};

let callCounter = 0;
export const callEvent = (
  type: CallEvent['type'],
  overrides: { id?: string; extensions?: string[]; users?: number[]; from?: string; everyone?: boolean } = {},
): CallEvent => ({
  version: 1,
  type,
  call: {
    id: overrides.id ?? `call-${++callCounter}-${Date.now()}`,
    direction: 'inbound',
    from: overrides.from ?? '+15551234567',
    to: '+15557654321',
  },
  ...(overrides.everyone
    ? {}
    : {
        agents: {
          ...(overrides.extensions ? { extensions: overrides.extensions } : {}),
          users: overrides.users ?? [],
        },
      }),
  occurredAt: new Date().toISOString(),
});

/** A real `ws` client that records every message and lets a test wait for one. */
export class TestSocket {
  readonly messages: ServerMessage[] = [];
  private waiters: { test: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  closed: { code: number; reason: string } | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as ServerMessage;
      this.messages.push(message);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(message)) return true;
        w.resolve(message);
        return false;
      });
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
    });
  }

  static open(url: string): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(new TestSocket(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(message: unknown) {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  next<T extends ServerMessage['type']>(
    type: T,
    predicate: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const test = (m: ServerMessage) => m.type === type && predicate(m as Extract<ServerMessage, { type: T }>);
    const seen = this.messages.find(test);
    if (seen) return Promise.resolve(seen as Extract<ServerMessage, { type: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${type}" message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        test,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      });
    });
  }

  count(type: ServerMessage['type']) {
    return this.messages.filter((m) => m.type === type).length;
  }

  close() {
    this.ws.close();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
