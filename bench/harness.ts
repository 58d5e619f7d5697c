/**
 * A bench stack: the local stack with one account, in a process of its own or in this one (when a section
 * needs the gateway's internals), and helpers to connect many agents and send signed webhooks. Loopback only.
 */
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { mintKommoToken } from '../infra/local/kommo-token';
import { type LocalStack, startLocalStack } from '../infra/local/stack';
import { newAccount } from '../lambdas/core/accounts';
import type { CallEvent, ServerMessage } from '../lambdas/core/protocol';
import { signWebhook } from '../lambdas/core/webhook-signature';
import { pool } from './stats';

export const BENCH_CLIENT_SECRET = 'bench-integration-secret-0123456789';

export interface Agent {
  userId: number;
  ws: WebSocket;
  onMessage: ((message: ServerMessage, at: number) => void) | undefined;
}

const inChildProcess = async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/server.ts'], {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
    });
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const { url, secret } = JSON.parse(first) as { url: string; secret: string };
  const stop = () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { url, secret, stop, stack: undefined as LocalStack | undefined };
};

const inThisProcess = async () => {
  const stack = await startLocalStack({ accountCacheMs: 60_000, strict: false });
  const account = newAccount(
    { subdomain: 'bench', integrationId: 'int-bench', clientSecret: BENCH_CLIENT_SECRET },
    Date.now(),
  );
  await stack.accounts.putAccount(account);
  return { url: stack.url, secret: account.webhookSecrets[0]?.secret ?? '', stop: () => stack.stop(), stack };
};

export const startBenchStack = async (options: { separateProcess?: boolean } = {}) => {
  const { url, secret, stop, stack } = options.separateProcess
    ? await inChildProcess()
    : await inThisProcess();
  let counter = 0;

  const connectAgent = async (userId: number): Promise<Agent> => {
    const token = await mintKommoToken({
      subdomain: 'bench',
      clientSecret: BENCH_CLIENT_SECRET,
      integrationId: 'int-bench',
      userId,
    });
    const res = await fetch(`${url}/tickets`, { method: 'POST', headers: { 'x-auth-token': token } });
    const ticket = (await res.json()) as { url: string };
    const ws = new WebSocket(ticket.url);
    const agent: Agent = { userId, ws, onMessage: undefined };
    ws.on('message', (data) => {
      const at = performance.now();
      agent.onMessage?.(JSON.parse(String(data)) as ServerMessage, at);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return agent;
  };

  const connectAgents = async (userIds: number[], concurrency = 16) => {
    const agents: Agent[] = new Array(userIds.length);
    await pool(userIds, concurrency, async (userId, index) => {
      agents[index] = await connectAgent(userId);
    });
    return agents;
  };

  const event = (type: CallEvent['type'], callId: string, users?: number[]): CallEvent => ({
    version: 1,
    type,
    call: { id: callId, direction: 'inbound', from: '+15551234567', to: '+15557654321' },
    ...(users ? { agents: { users } } : {}),
    occurredAt: new Date().toISOString(),
  });

  const webhook = async (body: CallEvent) => {
    const text = JSON.stringify(body);
    const headers = signWebhook(secret, `b${++counter}`, Math.floor(Date.now() / 1000), text);
    const res = await fetch(`${url}/webhooks/bench`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: text,
    });
    const json = (await res.json()) as { sockets?: number };
    return { status: res.status, sockets: json.sockets ?? 0 };
  };

  return { stack, url, stop, connectAgent, connectAgents, event, webhook, clientSecret: BENCH_CLIENT_SECRET };
};

export const closeAgents = async (agents: Agent[]) => {
  for (const agent of agents) agent.ws.terminate();
  await new Promise((r) => setTimeout(r, 200));
};
