/**
 * Capacity per busiest partition key, for the scale work (not yet a section of bench/run.ts): runs a scenario
 * against a local stack whose DynamoDB goes through the strict front, and reports what the busiest key of a
 * table or index consumed. DynamoDB throttles a partition past 3,000 RCU/s or 1,000 WCU/s, so the busiest
 * key's units per webhook bound how many webhooks a second one account can take.
 */
import WebSocket from 'ws';
import type { DynamoFront } from '../infra/local/dynamo/front';
import type { KeyUsage, RequestRecord } from '../infra/local/dynamo/tally';
import { AWS_PARTITION_LIMITS } from '../infra/local/dynamo/throttle';
import { mintKommoToken } from '../infra/local/kommo-token';
import { startLocalStack } from '../infra/local/stack';
import { newAccount } from '../lambdas/core/accounts';
import type { CallEvent } from '../lambdas/core/protocol';
import { signWebhook } from '../lambdas/core/webhook-signature';
import { pool } from './stats';

export interface CapacityFigures {
  requests: number;
  rcu: number;
  wcu: number;
  busiestRead: KeyUsage | undefined;
  busiestWrite: KeyUsage | undefined;
  /** Every DynamoDB call the scenario made, with its charges. */
  records: RequestRecord[];
}

/** Runs `scenario` and reports the capacity it consumed, index copies included. */
export const measureCapacity = async (
  front: DynamoFront,
  scenario: () => Promise<unknown>,
): Promise<CapacityFigures> => {
  await front.settle();
  const mark = front.capacity.mark();
  await scenario();
  await front.settle();
  const summary = front.capacity.summary(mark);
  return {
    requests: summary.requests,
    rcu: summary.rcu,
    wcu: summary.wcu,
    busiestRead: summary.busiestRead,
    busiestWrite: summary.busiestWrite,
    records: front.capacity.records(mark),
  };
};

/**
 * The per-account ceiling: over `webhooks` webhooks of one account (here all to the same agent), the keys
 * they all touch accumulate (a key unique to one webhook does not), so the busiest key's units per webhook against 3,000 RCU/s and
 * 1,000 WCU/s bound the account's webhooks a second.
 */
export interface SustainedFigures {
  webhooks: number;
  busiestRead: KeyUsage | undefined;
  busiestWrite: KeyUsage | undefined;
  ceilingPerSecond: number;
}

export const sustainedCeiling = (figures: CapacityFigures, webhooks: number): SustainedFigures => {
  const read = figures.busiestRead ? figures.busiestRead.rcu / webhooks : 0;
  const write = figures.busiestWrite ? figures.busiestWrite.wcu / webhooks : 0;
  return {
    webhooks,
    busiestRead: figures.busiestRead,
    busiestWrite: figures.busiestWrite,
    ceilingPerSecond: Math.min(
      read > 0 ? AWS_PARTITION_LIMITS.readPerSecond / read : Number.POSITIVE_INFINITY,
      write > 0 ? AWS_PARTITION_LIMITS.writePerSecond / write : Number.POSITIVE_INFINITY,
    ),
  };
};

export interface TargetedWebhookOptions {
  /** Agents in the account: entries in its agent map, and connections stored for them. */
  agents: number;
  /** Webhooks in the sustained run that gives the per-account ceiling (10 by default). */
  webhooks?: number;
  /** Name the agent by Kommo user id, or by extension as a phone system does (which reads the agent map). */
  by?: 'user' | 'extension';
  /** The index lag the front models (0 by default: capacity does not depend on it). */
  indexLagMs?: number;
}

const SUB = 'cap';
const SECRET = 'capacity-bench-secret-0123456789';

/**
 * One call event targeted at one agent of an account of `agents` agents, each with a stored connection; the
 * target's socket is real. The account's lookups are warmed by one webhook first, so the figure is the
 * steady-state cost of a webhook.
 */
export const targetedWebhookCapacity = async (
  options: TargetedWebhookOptions,
): Promise<{ perWebhook: CapacityFigures; sustained: SustainedFigures }> => {
  const stack = await startLocalStack({ accountCacheMs: 60_000, indexLagMs: options.indexLagMs ?? 0 });
  const front = stack.front;
  if (!front) throw new Error('the capacity bench needs the strict DynamoDB front');
  const ws: WebSocket[] = [];
  try {
    const account = newAccount(
      { subdomain: SUB, integrationId: 'int-cap', clientSecret: SECRET },
      Date.now(),
    );
    await stack.accounts.putAccount(account);
    const ids = Array.from({ length: options.agents }, (_, i) => 1000 + i);
    await stack.state.putAgentMap(
      SUB,
      Object.fromEntries(ids.map((id) => [String(id), String(id)])),
      ids[0] ?? 0,
      Date.now(),
    );
    const now = Date.now();
    await pool(ids.slice(1), 16, (userId) =>
      stack.state.saveConnection({
        connectionId: `seed-${userId}`,
        subdomain: SUB,
        userId,
        connectedAt: now,
        expiresAt: now + 3_600_000,
      }),
    );
    const target = ids[0] ?? 1000;
    const token = await mintKommoToken({
      subdomain: SUB,
      clientSecret: SECRET,
      integrationId: 'int-cap',
      userId: target,
    });
    const ticket = (await (
      await fetch(`${stack.url}/tickets`, { method: 'POST', headers: { 'x-auth-token': token } })
    ).json()) as { url: string };
    const socket = new WebSocket(ticket.url);
    ws.push(socket);
    const messages: unknown[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, (options.indexLagMs ?? 0) + 20));
    let counter = 0;
    const webhook = async () => {
      const event: CallEvent = {
        version: 1,
        type: 'call.ringing',
        call: { id: `cap-${++counter}`, direction: 'inbound', from: '+15551234567', to: '+15557654321' },
        agents: options.by === 'extension' ? { extensions: [String(target)] } : { users: [target] },
        occurredAt: new Date().toISOString(),
      };
      const body = JSON.stringify(event);
      const headers = signWebhook(
        account.webhookSecrets[0]?.secret ?? '',
        `cap-${counter}`,
        Math.floor(Date.now() / 1000),
        body,
      );
      const res = await fetch(`${stack.url}/webhooks/${SUB}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      if (res.status >= 300) throw new Error(`webhook: ${res.status} ${await res.text()}`);
      await res.text();
    };
    await webhook();
    const perWebhook = await measureCapacity(front, webhook);
    const webhooks = options.webhooks ?? 10;
    const run = await measureCapacity(front, async () => {
      for (let i = 0; i < webhooks; i++) await webhook();
    });
    return { perWebhook, sustained: sustainedCeiling(run, webhooks) };
  } finally {
    for (const socket of ws) socket.terminate();
    await stack.stop();
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const agents = Number(process.argv[2] ?? 10_000);
  const line = (u: KeyUsage | undefined, field: 'rcu' | 'wcu', per = 1) =>
    u ? `${u[field] / per} on ${u.key}` : 'none';
  for (const by of ['user', 'extension'] as const) {
    const { perWebhook, sustained } = await targetedWebhookCapacity({ agents, by });
    console.log(
      `webhook to one agent by ${by}, ${agents} agents: ${perWebhook.rcu} RCU, ${perWebhook.wcu} WCU in ${perWebhook.requests} calls`,
    );
    console.log(`  busiest read key:  ${line(perWebhook.busiestRead, 'rcu')}`);
    console.log(`  busiest write key: ${line(perWebhook.busiestWrite, 'wcu')}`);
    console.log(`  over ${sustained.webhooks} webhooks, per webhook on the keys they share:`);
    console.log(`    read:  ${line(sustained.busiestRead, 'rcu', sustained.webhooks)}`);
    console.log(`    write: ${line(sustained.busiestWrite, 'wcu', sustained.webhooks)}`);
    console.log(
      `    per-account ceiling (3,000 RCU/s, 1,000 WCU/s per partition): ${Math.floor(sustained.ceilingPerSecond)} webhooks/s`,
    );
  }
}
