import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
import { mapBounded } from '../core/fanout';
import type { CallMessage } from '../core/protocol';
import type { AgentMap } from '../core/routing';
import type { Connection, StateStore, WebhookClaim, WebhookResult } from '../ports';
import { STATE_TABLE } from './table-design';

const DAY_SECONDS = 86_400;
const seconds = (ms: number) => Math.floor(ms / 1000);
const pad = (seq: number) => String(seq).padStart(15, '0');
const userKey = (sub: string, userId: number) => `U#${sub}#${userId}`;
const accountConnections = (sub: string) => `A#${sub}#C`;

const isConditionFailure = (error: unknown): boolean =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

export interface DynamoStateStoreOptions {
  tableName: string;
  /** How long pushed messages stay available to `resume`, in seconds. */
  eventRetentionSeconds: number;
}

/** Every state port on one DynamoDB table; see table-design.ts for the keys. */
export class DynamoStateStore implements StateStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;

  constructor(
    client: DynamoDBClient,
    private readonly options: DynamoStateStoreOptions,
  ) {
    this.db = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.table = options.tableName;
  }

  // --- connections ---

  async saveConnection(c: Connection): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `C#${c.connectionId}`,
          sk: 'C',
          gsi1pk: accountConnections(c.subdomain),
          gsi1sk: `${c.userId}#${c.connectionId}`,
          connectionId: c.connectionId,
          subdomain: c.subdomain,
          userId: c.userId,
          connectedAt: c.connectedAt,
          expiresAt: c.expiresAt,
          ttl: seconds(c.expiresAt),
        },
      }),
    );
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
    await this.db.send(
      new DeleteCommand({ TableName: this.table, Key: { pk: `C#${connectionId}`, sk: 'C' } }),
    );
  }

  async connectionsOf(
    sub: string,
    users: readonly number[] | 'everyone',
    nowMs: number,
  ): Promise<Connection[]> {
    // A handful of users: one key lookup each. Many (or ring-all): one pass over the account's partition.
    const perUser = users !== 'everyone' && users.length <= 8;
    const prefixes = perUser ? users.map((u) => `${u}#`) : [undefined];
    const wanted = users === 'everyone' ? undefined : new Set(users);
    const pages = await Promise.all(prefixes.map((prefix) => this.queryConnections(sub, prefix)));
    return pages.flat().filter((c) => c.expiresAt > nowMs && (wanted === undefined || wanted.has(c.userId)));
  }

  private async queryConnections(sub: string, prefix: string | undefined): Promise<Connection[]> {
    const { name, partitionKey, sortKey } = STATE_TABLE.accountIndex;
    const out: Connection[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: name,
          KeyConditionExpression: prefix ? '#p = :p AND begins_with(#s, :s)' : '#p = :p',
          ExpressionAttributeNames: prefix ? { '#p': partitionKey, '#s': sortKey } : { '#p': partitionKey },
          ExpressionAttributeValues: prefix
            ? { ':p': accountConnections(sub), ':s': prefix }
            : { ':p': accountConnections(sub) },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) out.push(toConnection(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  // --- tickets ---

  async saveTicket(hash: string, record: TicketRecord): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `T#${hash}`, sk: 'T', ...record, ttl: seconds(record.expiresAt) + 60 },
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

  async getAgentMap(sub: string): Promise<AgentMap> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: `A#${sub}`, sk: 'AGENTS' }, ConsistentRead: true }),
    );
    return (Item?.map as AgentMap | undefined) ?? {};
  }

  async putAgentMap(sub: string, map: AgentMap, updatedBy: number, nowMs: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `A#${sub}`, sk: 'AGENTS', map, updatedBy, updatedAt: nowMs },
      }),
    );
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
            ':ttl': seconds(nowMs) + DAY_SECONDS,
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
          ttl: seconds(nowMs) + DAY_SECONDS,
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
        Key: { pk: `A#${sub}#CALL#${callId}`, sk: 'CALL' },
        ConsistentRead: true,
      }),
    );
    return Item ? (Item.record as CallRecord) : undefined;
  }

  async getCalls(sub: string, callIds: readonly string[]): Promise<CallRecord[]> {
    const out: CallRecord[] = [];
    for (let i = 0; i < callIds.length; i += 100) {
      let keys: Record<string, unknown>[] | undefined = callIds
        .slice(i, i + 100)
        .map((id) => ({ pk: `A#${sub}#CALL#${id}`, sk: 'CALL' }));
      while (keys && keys.length > 0) {
        const page: BatchGetCommandOutput = await this.db.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys } } }),
        );
        for (const item of page.Responses?.[this.table] ?? []) out.push(item.record as CallRecord);
        keys = page.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    return out;
  }

  async saveCall(sub: string, record: CallRecord, nowMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `A#${sub}#CALL#${record.callId}`,
            sk: 'CALL',
            record,
            version: record.version,
            ttl: seconds(nowMs) + 2 * DAY_SECONDS,
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

  // --- per-user event log ---

  async recordEvents(
    sub: string,
    userIds: readonly number[],
    message: CallMessage,
    active: boolean,
    nowMs: number,
  ): Promise<void> {
    const ttl = seconds(nowMs) + this.options.eventRetentionSeconds;
    const callId = message.view.call.id;
    const writes = userIds.flatMap((userId) => {
      const pk = userKey(sub, userId);
      // Same webhook, same seq, same key: a retry overwrites rather than adds.
      const event = { PutRequest: { Item: { pk, sk: `E#${pad(message.seq)}`, message, ttl } } };
      const marker = active
        ? { PutRequest: { Item: { pk, sk: `A#${callId}`, callId, ttl: seconds(nowMs) + DAY_SECONDS } } }
        : { DeleteRequest: { Key: { pk, sk: `A#${callId}` } } };
      return [event, marker];
    });
    const batches: (typeof writes)[] = [];
    for (let i = 0; i < writes.length; i += 25) batches.push(writes.slice(i, i + 25));
    await mapBounded(batches, 8, async (batch) => {
      let pending: typeof writes | undefined = batch;
      for (let attempt = 0; pending && pending.length > 0; attempt++) {
        if (attempt > 0)
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 6)
          throw new Error(`could not store ${pending.length} event(s) after ${attempt} attempts`);
        const out: BatchWriteCommandOutput = await this.db.send(
          new BatchWriteCommand({ RequestItems: { [this.table]: pending } }),
        );
        pending = out.UnprocessedItems?.[this.table] as typeof writes | undefined;
      }
    });
  }

  async eventsAfter(sub: string, userId: number, after: number, nowMs: number): Promise<CallMessage[]> {
    const out: CallMessage[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': userKey(sub, userId),
            ':from': `E#${pad(after + 1)}`,
            ':to': 'E#~',
          },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        // TTL deletion lags by up to two days; expired items must not be replayed.
        if (Number(item.ttl) * 1000 > nowMs) out.push(item.message as CallMessage);
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

  async activeCallIds(sub: string, userId: number): Promise<string[]> {
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :a)',
        ExpressionAttributeValues: { ':pk': userKey(sub, userId), ':a': 'A#' },
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map((item) => String(item.callId));
  }
}

const toConnection = (item: Record<string, unknown>): Connection => ({
  connectionId: String(item.connectionId),
  subdomain: String(item.subdomain),
  userId: Number(item.userId),
  connectedAt: Number(item.connectedAt),
  expiresAt: Number(item.expiresAt),
});
