/**
 * Capacity per busiest partition key: runs webhooks against a local stack whose DynamoDB goes through the
 * strict front, and reports what the busiest key of a table consumed. DynamoDB throttles a partition key past
 * 3,000 RCU/s or 1,000 WCU/s, so the units per webhook on the keys every webhook of an account shares bound
 * how many webhooks a second one account can take.
 */
import WebSocket from 'ws';
import type { DynamoFront } from '../infra/local/dynamo/front';
import { type KeyUsage, type RequestRecord, usageKey } from '../infra/local/dynamo/tally';
import { AWS_PARTITION_LIMITS } from '../infra/local/dynamo/throttle';
import { mintKommoToken } from '../infra/local/kommo-token';
import { type LocalStack, startLocalStack } from '../infra/local/stack';
import { newAccount } from '../lambdas/core/accounts';
import type { Agents, CallEvent } from '../lambdas/core/protocol';
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
 * The per-account ceiling: over `webhooks` webhooks of one account, the keys every one of them touched (the
 * account's seq counter, the target's sockets, its extension) accumulate; a key only one webhook touched (its
 * call, its dedupe claim) does not, however big. The busiest shared key's units per webhook against 3,000
 * RCU/s and 1,000 WCU/s bound the account's webhooks a second.
 */
export interface SustainedFigures {
  webhooks: number;
  /** The shared key with the most read units over the run (divide by `webhooks` for one webhook's share). */
  busiestRead: KeyUsage | undefined;
  busiestWrite: KeyUsage | undefined;
  ceilingPerSecond: number;
}

export const sustainedCeiling = (runs: readonly CapacityFigures[]): SustainedFigures => {
  const webhooks = runs.length;
  const keysOf = (run: CapacityFigures) => new Set(run.records.flatMap((r) => r.charges.map(usageKey)));
  const [first, ...rest] = runs.map(keysOf);
  const shared = new Set([...(first ?? [])].filter((key) => rest.every((keys) => keys.has(key))));
  const usage = new Map<string, KeyUsage>();
  for (const run of runs) {
    for (const record of run.records) {
      for (const charge of record.charges) {
        const key = usageKey(charge);
        if (!shared.has(key)) continue;
        const u = usage.get(key) ?? { ...charge, key, rcu: 0, wcu: 0, requests: 0 };
        u.rcu += charge.rcu;
        u.wcu += charge.wcu;
        u.requests++;
        usage.set(key, u);
      }
    }
  }
  const top = (field: 'rcu' | 'wcu') =>
    [...usage.values()].filter((k) => k[field] > 0).sort((a, b) => b[field] - a[field])[0];
  const busiestRead = top('rcu');
  const busiestWrite = top('wcu');
  const read = (busiestRead?.rcu ?? 0) / webhooks;
  const write = (busiestWrite?.wcu ?? 0) / webhooks;
  return {
    webhooks,
    busiestRead,
    busiestWrite,
    ceilingPerSecond: Math.min(
      read > 0 ? AWS_PARTITION_LIMITS.readPerSecond / read : Number.POSITIVE_INFINITY,
      write > 0 ? AWS_PARTITION_LIMITS.writePerSecond / write : Number.POSITIVE_INFINITY,
    ),
  };
};

const SUB = 'cap';
const SECRET = 'capacity-bench-secret-0123456789';

/** An extension as long as the phone system may make it (the schema allows 32 characters). */
export const extensionOf = (userId: number, length = 32) => String(userId).padStart(length, '0');

export type Audience = 'one' | 'group' | 'ring-all';

export interface CapacityAccountOptions {
  /** Agents in the account, each with an extension of `extensionLength` characters. */
  agents: number;
  extensionLength?: number;
  /** Agents with a stored socket (at most `agents`; 0 by default): a ring-all pushes to each. */
  connected?: number;
  /** The index lag the front models (0 by default: capacity does not depend on it). */
  indexLagMs?: number;
}

export interface CapacityAccount {
  stack: LocalStack;
  front: DynamoFront;
  /** One webhook to `audience`, named by extension as a phone system does (10 agents for a group). */
  webhook(audience: Audience): Promise<void>;
  /** One webhook measured alone, then `webhooks` more for the per-account ceiling. */
  measure(
    audience: Audience,
    webhooks: number,
  ): Promise<{ perWebhook: CapacityFigures; sustained: SustainedFigures }>;
  stop(): Promise<void>;
}

/**
 * An account of `agents` agents with extensions, `connected` of them with a stored socket, and one agent (the
 * first) with a real socket opened through a ticket, as a browser would.
 */
export const capacityAccount = async (options: CapacityAccountOptions): Promise<CapacityAccount> => {
  const stack = await startLocalStack({ accountCacheMs: 60_000, indexLagMs: options.indexLagMs ?? 0 });
  const front = stack.front;
  if (!front) throw new Error('capacity needs the strict DynamoDB front');
  const sockets: WebSocket[] = [];
  const stop = async () => {
    for (const socket of sockets) socket.terminate();
    await stack.stop();
  };
  try {
    const account = newAccount(
      { subdomain: SUB, integrationId: 'int-cap', clientSecret: SECRET },
      Date.now(),
    );
    await stack.accounts.putAccount(account);
    const ids = Array.from({ length: options.agents }, (_, i) => 1000 + i);
    const extension = (id: number) => extensionOf(id, options.extensionLength);
    await stack.state.putAgentMap(
      SUB,
      Object.fromEntries(ids.map((id) => [String(id), extension(id)])),
      ids[0] ?? 0,
      Date.now(),
    );
    // Seeded sockets have no browser behind them, so the gateway answers 410 for each. They are stored as
    // connecting (connectedAt ahead of the bench), which delivery leaves alone, so every webhook measured
    // pays for pushing to them, not for forgetting them once.
    const future = Date.now() + 3_600_000;
    await pool(ids.slice(1, options.connected ?? 0), 16, async (userId) => {
      await stack.state.saveConnection({
        connectionId: `seed-${userId}`,
        subdomain: SUB,
        userId,
        connectedAt: future,
        expiresAt: future + 3_600_000,
      });
    });
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
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, (options.indexLagMs ?? 0) + 20));

    const group = ids.slice(0, 10).map(extension);
    const audiences: Record<Audience, Agents | undefined> = {
      one: { extensions: [extension(target)] },
      group: { extensions: group },
      'ring-all': undefined,
    };
    let counter = 0;
    const webhook = async (audience: Audience) => {
      const n = ++counter;
      const agents = audiences[audience];
      const event: CallEvent = {
        version: 1,
        type: 'call.ringing',
        call: { id: `cap-${n}`, direction: 'inbound', from: '+15551234567', to: '+15557654321' },
        ...(agents ? { agents } : {}),
        occurredAt: new Date().toISOString(),
      };
      const body = JSON.stringify(event);
      const headers = signWebhook(
        account.webhookSecrets[0]?.secret ?? '',
        `cap-${n}`,
        Math.floor(Date.now() / 1000),
        body,
      );
      const res = await fetch(`${stack.url}/webhooks/${SUB}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      if (res.status >= 300) throw new Error(`webhook: ${res.status} ${await res.text()}`);
      const result = (await res.json()) as { users: number };
      const expected = audience === 'one' ? 1 : audience === 'group' ? Math.min(10, ids.length) : ids.length;
      if (result.users !== expected) throw new Error(`webhook to ${audience} reached ${result.users} users`);
    };
    const measure = async (audience: Audience, webhooks: number) => {
      // The first webhook warms the account lookup and the function containers.
      await webhook(audience);
      const perWebhook = await measureCapacity(front, () => webhook(audience));
      const runs: CapacityFigures[] = [perWebhook];
      for (let i = 1; i < webhooks; i++) runs.push(await measureCapacity(front, () => webhook(audience)));
      return { perWebhook, sustained: sustainedCeiling(runs) };
    };
    return { stack, front, webhook, measure, stop };
  } catch (error) {
    await stop();
    throw error;
  }
};

export interface TargetedWebhookOptions {
  agents: number;
  /** Webhooks in the sustained run that gives the per-account ceiling (10 by default). */
  webhooks?: number;
  extensionLength?: number;
  indexLagMs?: number;
}

/** One call event to one agent (by extension) of an account of `agents` agents: its cost and the ceiling. */
export const targetedWebhookCapacity = async (
  options: TargetedWebhookOptions,
): Promise<{ perWebhook: CapacityFigures; sustained: SustainedFigures }> => {
  const account = await capacityAccount(options);
  try {
    return await account.measure('one', options.webhooks ?? 10);
  } finally {
    await account.stop();
  }
};
