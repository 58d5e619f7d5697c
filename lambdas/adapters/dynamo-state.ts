import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TicketRecord } from '../core/auth';
import type { CallRecord } from '../core/call-state';
import { chunks, mapBounded } from '../core/fanout';
import { type AgentMap, usersByExtension } from '../core/routing';
import type { Connection, StateStore, WebhookClaim, WebhookResult } from '../ports';
import { callPartition, epochSeconds, isConditionFailure, numberSet } from './dynamo-items';

const DAY_SECONDS = 86_400;
const userKey = (sub: string, userId: number) => `U#${sub}#${userId}`;
const CONNECTION_PREFIX = 'c:';
const connectionAttribute = (connectionId: string) => `${CONNECTION_PREFIX}${connectionId}`;
/** Shards of an account's directory of users: 10,000 users make sixteen items of about 4 KB. */
const DIRECTORY_SHARDS = 16;
/**
 * Shards of an account's extension items: a webhook reads one item by key whatever the count; GET and PUT
 * /agents query all of them (10,000 agents with 32-character extensions make about 45 KB a shard).
 */
const EXTENSION_SHARDS = 16;
/** FNV-1a: a stable spread of extensions over the shards, the same in every function and release. */
const extensionShard = (extension: string) => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < extension.length; i++) {
    hash ^= extension.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % EXTENSION_SHARDS;
};
const extensionKey = (sub: string, extension: string) => ({
  pk: `A#${sub}#X#${extensionShard(extension)}`,
  sk: `X#${extension}`,
});
const directoryKey = (sub: string, userId: number) => ({
  pk: `A#${sub}#DIR#${userId % DIRECTORY_SHARDS}`,
  sk: 'DIR',
});

export interface DynamoStateStoreOptions {
  tableName: string;
}

/** Every state port on one DynamoDB table; see table-design.ts for the keys. */
export class DynamoStateStore implements StateStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(client: DynamoDBClient, options: DynamoStateStoreOptions) {
    this.db = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = options.tableName;
  }

  // --- connections ---

  /**
   * A socket is stored twice: under its id (what `$default` and `$disconnect` know) and as an attribute of its
   * user's CONNS item, which routing reads with a strongly consistent BatchGet. No index is involved, so a
   * socket is routable the moment `$connect` returns: an index would lag. The user also joins the account's
   * directory (a number set, sharded), which is how a ring-all finds users the agent map does not name.
   */
  async saveConnection(c: Connection): Promise<Connection[]> {
    const info = { connectedAt: c.connectedAt, expiresAt: c.expiresAt };
    const [, conns] = await Promise.all([
      this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `C#${c.connectionId}`,
            sk: 'C',
            connectionId: c.connectionId,
            subdomain: c.subdomain,
            userId: c.userId,
            ...info,
            ttl: epochSeconds(c.expiresAt),
          },
        }),
      ),
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: userKey(c.subdomain, c.userId), sk: 'CONNS' },
          // The item lives as long as its newest socket can.
          UpdateExpression: 'SET #c = :info, #ttl = :ttl',
          ExpressionAttributeNames: { '#c': connectionAttribute(c.connectionId), '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':info': info, ':ttl': epochSeconds(c.expiresAt) },
          ReturnValues: 'ALL_NEW',
        }),
      ),
      this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: directoryKey(c.subdomain, c.userId),
          UpdateExpression: 'ADD #u :u',
          ExpressionAttributeNames: { '#u': 'users' },
          ExpressionAttributeValues: { ':u': new Set([c.userId]) },
        }),
      ),
    ]);
    return conns.Attributes ? connectionsIn(c.subdomain, c.userId, conns.Attributes, c.connectedAt) : [];
  }

  async forgetConnections(sub: string, userId: number, connectionIds: readonly string[]): Promise<void> {
    if (connectionIds.length === 0) return;
    const names = Object.fromEntries(connectionIds.map((id, i) => [`#c${i}`, connectionAttribute(id)]));
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: userKey(sub, userId), sk: 'CONNS' },
        UpdateExpression: `REMOVE ${Object.keys(names).join(', ')}`,
        ExpressionAttributeNames: names,
      }),
    );
  }

  // --- per-tenant rate limits: fixed-window counters that expire with their window ---

  async countTicket(sub: string, userId: number, windowStart: number, windowMs: number): Promise<number> {
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: userKey(sub, userId), sk: `RATE#T#${windowStart}` },
        UpdateExpression: 'ADD n :one SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':one': 1, ':ttl': epochSeconds(windowStart + 2 * windowMs) },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.n ?? 1);
  }

  async countMessage(
    connectionId: string,
    resume: boolean,
    windowStart: number,
    windowMs: number,
  ): Promise<{ messages: number; resumes: number }> {
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionId}`, sk: `RATE#${windowStart}` },
        UpdateExpression: 'ADD m :one, r :resume SET #ttl = :ttl',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':resume': resume ? 1 : 0,
          ':ttl': epochSeconds(windowStart + 2 * windowMs),
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return { messages: Number(Attributes?.m ?? 1), resumes: Number(Attributes?.r ?? 0) };
  }

  async getConnection(connectionId: string): Promise<Connection | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionId}`, sk: 'C' },
        ConsistentRead: true,
      }),
    );
    return Item ? toConnection(Item) : undefined;
  }

  async removeConnection(connectionId: string): Promise<void> {
    const { Attributes } = await this.db.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: `C#${connectionId}`, sk: 'C' },
        ReturnValues: 'ALL_OLD',
      }),
    );
    if (!Attributes) return;
    const c = toConnection(Attributes);
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: userKey(c.subdomain, c.userId), sk: 'CONNS' },
        UpdateExpression: 'REMOVE #c',
        ExpressionAttributeNames: { '#c': connectionAttribute(connectionId) },
      }),
    );
  }

  async connectionsOf(sub: string, users: readonly number[], nowMs: number): Promise<Connection[]> {
    const unique = [...new Set(users)];
    const [only] = unique;
    if (unique.length === 1 && only !== undefined) {
      // The usual call rings one agent: a GetItem costs the same round trip with less work on both ends.
      const { Item } = await this.db.send(
        new GetCommand({
          TableName: this.table,
          Key: { pk: userKey(sub, only), sk: 'CONNS' },
          ConsistentRead: true,
        }),
      );
      return Item ? connectionsIn(sub, only, Item, nowMs) : [];
    }
    const keys = unique.map((u) => ({ pk: userKey(sub, u), sk: 'CONNS' }));
    const items = await this.batchGet(keys);
    return items.flatMap((item) => connectionsIn(sub, Number(String(item.pk).split('#')[2]), item, nowMs));
  }

  async connectedUsers(sub: string): Promise<number[]> {
    return (await this.directory(sub)).flatMap((item) => numberSet(item.users));
  }

  private directory(sub: string): Promise<Record<string, unknown>[]> {
    return this.batchGet(
      Array.from({ length: DIRECTORY_SHARDS }, (_, shard) => ({ pk: `A#${sub}#DIR#${shard}`, sk: 'DIR' })),
    );
  }

  /** BatchWrite of any number of requests: 25 per request, unprocessed items retried with backoff. */
  private async batchWrite(requests: Record<string, unknown>[], what: string): Promise<void> {
    const batches = chunks(requests, 25);
    await mapBounded(batches, 8, async (batch) => {
      let pending: Record<string, unknown>[] | undefined = batch;
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 6)
          throw new Error(`could not store ${pending.length} ${what} after ${attempt} attempts`);
        const out: BatchWriteCommandOutput = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: pending } }),
        );
        pending = out.UnprocessedItems?.[this.table] as Record<string, unknown>[] | undefined;
      }
    });
  }

  /** Strongly consistent BatchGet of any number of keys: 100 per request, unprocessed keys retried. */
  private async batchGet(keys: Record<string, unknown>[]): Promise<Record<string, unknown>[]> {
    const pages = await mapBounded(chunks(keys, 100), 8, async (chunk) => {
      const out: Record<string, unknown>[] = [];
      let pending: Record<string, unknown>[] | undefined = chunk;
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 6)
          throw new Error(`could not read ${pending.length} item(s) after ${attempt} attempts`);
        const page: BatchGetCommandOutput = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } } }),
        );
        out.push(...(page.Responses?.[this.table] ?? []));
        pending = page.UnprocessedKeys?.[this.table]?.Keys;
      }
      return out;
    });
    return pages.flat();
  }

  // --- tickets ---

  async saveTicket(hash: string, record: TicketRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `T#${hash}`, sk: 'T', ...record, ttl: epochSeconds(record.expiresAt) + 60 },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async consumeTicket(hash: string): Promise<TicketRecord | undefined> {
    // Delete-and-return is atomic, so two sockets racing with one ticket cannot both get it.
    const { Attributes } = await this.db.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: `T#${hash}`, sk: 'T' },
        ReturnValues: 'ALL_OLD',
      }),
    );
    if (!Attributes) return undefined;
    return {
      subdomain: String(Attributes.subdomain),
      userId: Number(Attributes.userId),
      expiresAt: Number(Attributes.expiresAt),
    };
  }

  // --- agents ---

  /**
   * The map lives in two shapes, both written by putAgentMap from the whole new map (so a PUT repairs
   * whatever an interrupted one left): one item per extension under a shard of the account
   * (`A#<sub>#X#<shard>` / `X#<ext>`, its users as a number set), which a webhook reads by key; and the
   * users holding an extension as a number set on each directory shard, which a ring-all reads.
   */
  async getAgentMap(sub: string): Promise<AgentMap> {
    const map: AgentMap = {};
    for (const [extension, users] of await this.extensionItems(sub)) {
      for (const user of users) map[String(user)] = extension;
    }
    return map;
  }

  async putAgentMap(sub: string, map: AgentMap, updatedBy: number, nowMs: number): Promise<void> {
    const existing = await this.extensionItems(sub);
    const desired = usersByExtension(map);
    const same = (a: readonly number[], b: readonly number[]) =>
      a.length === b.length && a.every((u) => b.includes(u));
    const writes: Record<string, unknown>[] = [];
    for (const extension of existing.keys()) {
      if (!desired.has(extension)) writes.push({ DeleteRequest: { Key: extensionKey(sub, extension) } });
    }
    for (const [extension, users] of desired) {
      if (same(users, existing.get(extension) ?? [])) continue;
      writes.push({
        PutRequest: { Item: { ...extensionKey(sub, extension), extension, users: new Set(users) } },
      });
    }
    await this.batchWrite(writes, 'agent map entries');
    const agentsByShard = Array.from({ length: DIRECTORY_SHARDS }, () => new Set<number>());
    for (const user of Object.keys(map).map(Number)) agentsByShard[user % DIRECTORY_SHARDS]?.add(user);
    await mapBounded(
      agentsByShard.map((agents, shard) => ({ agents, shard })),
      8,
      ({ agents, shard }) =>
        this.db.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: `A#${sub}#DIR#${shard}`, sk: 'DIR' },
            UpdateExpression: `SET updatedBy = :by, updatedAt = :at ${agents.size > 0 ? ', #a = :a' : 'REMOVE #a'}`,
            ExpressionAttributeNames: { '#a': 'agents' },
            ExpressionAttributeValues: {
              ':by': updatedBy,
              ':at': nowMs,
              ...(agents.size > 0 ? { ':a': agents } : {}),
            },
          }),
        ),
    );
  }

  async usersOfExtensions(sub: string, extensions: readonly string[]): Promise<Map<string, number[]>> {
    const items = await this.batchGet([...new Set(extensions)].map((e) => extensionKey(sub, e)));
    return new Map(items.map((item) => [String(item.extension), numberSet(item.users)]));
  }

  async ringAllUsers(sub: string): Promise<number[]> {
    const items = await this.directory(sub);
    return [...new Set(items.flatMap((item) => [...numberSet(item.users), ...numberSet(item.agents)]))];
  }

  /** Every extension item of the account: a consistent Query of each shard. */
  private async extensionItems(sub: string): Promise<Map<string, number[]>> {
    const shards = await mapBounded(
      Array.from({ length: EXTENSION_SHARDS }, (_, shard) => shard),
      8,
      async (shard) => {
        const out: [string, number[]][] = [];
        let startKey: Record<string, unknown> | undefined;
        do {
          const page = await this.db.send(
            new QueryCommand({
              TableName: this.table,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': `A#${sub}#X#${shard}` },
              ConsistentRead: true,
              ExclusiveStartKey: startKey,
            }),
          );
          for (const item of page.Items ?? []) out.push([String(item.extension), numberSet(item.users)]);
          startKey = page.LastEvaluatedKey;
        } while (startKey);
        return out;
      },
    );
    return new Map(shards.flat());
  }

  // --- webhook dedupe ---

  async claimWebhook(sub: string, webhookId: string, nowMs: number, leaseMs: number): Promise<WebhookClaim> {
    const key = { pk: `A#${sub}#W#${webhookId}`, sk: 'W' };
    try {
      // A claim given back after a failure (status released) or left by a dead holder can be taken again.
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key,
          UpdateExpression: 'SET #st = :processing, claimedAt = :now, #ttl = :ttl',
          ConditionExpression:
            'attribute_not_exists(pk) OR (#st = :processing AND claimedAt < :stale) OR #st = :released',
          ExpressionAttributeNames: { '#st': 'status', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':processing': 'processing',
            ':released': 'released',
            ':now': nowMs,
            ':stale': nowMs - leaseMs,
            ':ttl': epochSeconds(nowMs) + DAY_SECONDS,
          },
        }),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }),
    );
    if (Item?.status === 'done') return { kind: 'done', result: Item.result as WebhookResult };
    return { kind: 'busy' };
  }

  async nextSeq(sub: string): Promise<number> {
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `A#${sub}`, sk: 'SEQ' },
        UpdateExpression: 'ADD seq :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(Attributes?.seq);
  }

  async completeWebhook(sub: string, webhookId: string, result: WebhookResult, nowMs: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `A#${sub}#W#${webhookId}`,
          sk: 'W',
          status: 'done',
          result,
          completedAt: nowMs,
          ttl: epochSeconds(nowMs) + DAY_SECONDS,
        },
      }),
    );
  }

  async releaseWebhook(sub: string, webhookId: string): Promise<void> {
    await this.db
      .send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: `A#${sub}#W#${webhookId}`, sk: 'W' },
          ConditionExpression: '#st = :processing',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':processing': 'processing' },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  // --- calls ---

  async getCall(sub: string, callId: string): Promise<CallRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: callPartition(sub, callId), sk: 'CALL' },
        ConsistentRead: true,
      }),
    );
    return Item ? (Item.record as CallRecord) : undefined;
  }

  async getCalls(sub: string, callIds: readonly string[]): Promise<CallRecord[]> {
    const items = await this.batchGet(callIds.map((id) => ({ pk: callPartition(sub, id), sk: 'CALL' })));
    return items.map((item) => item.record as CallRecord);
  }

  async saveCall(sub: string, record: CallRecord, nowMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: callPartition(sub, record.callId),
            sk: 'CALL',
            record,
            version: record.version,
            ttl: epochSeconds(nowMs) + 2 * DAY_SECONDS,
          },
          ConditionExpression: record.version === 1 ? 'attribute_not_exists(pk)' : 'version = :previous',
          ExpressionAttributeValues: record.version === 1 ? undefined : { ':previous': record.version - 1 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  // --- which calls each user was told of ---

  async addCallUsers(sub: string, userIds: readonly number[], callId: string, nowMs: number): Promise<void> {
    // A day: longer than any call lasts (the server ends stale ones), and every resume filters on expiry.
    const ttl = epochSeconds(nowMs) + DAY_SECONDS;
    const marker = (userId: number) => ({ pk: userKey(sub, userId), sk: `M#${callId}`, callId, ttl });
    const [only] = userIds;
    if (userIds.length === 1 && only !== undefined) {
      // The usual call rings one agent: a PutItem, with less work than a batch of one.
      await this.db.send(new PutCommand({ TableName: this.table, Item: marker(only) }));
      return;
    }
    await this.batchWrite(
      userIds.map((userId) => ({ PutRequest: { Item: marker(userId) } })),
      'call marker(s)',
    );
  }

  async callIdsOf(sub: string, userId: number, nowMs: number): Promise<string[]> {
    const out: string[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :m)',
          ExpressionAttributeValues: { ':pk': userKey(sub, userId), ':m': 'M#' },
          ProjectionExpression: 'callId, #ttl',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        // TTL deletion lags by up to two days; an expired marker never comes back.
        if (Number(item.ttl) * 1000 > nowMs) out.push(String(item.callId));
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  async latestSeq(sub: string): Promise<number> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: `A#${sub}`, sk: 'SEQ' }, ConsistentRead: true }),
    );
    return Number(Item?.seq ?? 0);
  }
}

/** The live sockets recorded on a user's CONNS item. */
const connectionsIn = (
  sub: string,
  userId: number,
  item: Record<string, unknown>,
  nowMs: number,
): Connection[] => {
  const out: Connection[] = [];
  for (const [name, value] of Object.entries(item)) {
    if (!name.startsWith(CONNECTION_PREFIX)) continue;
    const info = value as { connectedAt: number; expiresAt: number };
    if (Number(info.expiresAt) <= nowMs) continue;
    out.push({
      connectionId: name.slice(CONNECTION_PREFIX.length),
      subdomain: sub,
      userId,
      connectedAt: Number(info.connectedAt),
      expiresAt: Number(info.expiresAt),
    });
  }
  return out;
};

const toConnection = (item: Record<string, unknown>): Connection => ({
  connectionId: String(item.connectionId),
  subdomain: String(item.subdomain),
  userId: Number(item.userId),
  connectedAt: Number(item.connectedAt),
  expiresAt: Number(item.expiresAt),
});
