import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { TicketRecord } from '../core/auth';
import type { CallRecord } from '../core/call-state';
import { type CallMessage, type CallView, PROTOCOL_VERSION } from '../core/protocol';
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
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key, status: 'processing', claimedAt: nowMs, ttl: seconds(nowMs) + DAY_SECONDS },
          ConditionExpression: 'attribute_not_exists(pk) OR (#st = :processing AND claimedAt < :stale)',
          ExpressionAttributeNames: { '#st': 'status' },
          ExpressionAttributeValues: { ':processing': 'processing', ':stale': nowMs - leaseMs },
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

  async appendEvent(
    sub: string,
    userId: number,
    deliveryKey: string,
    view: CallView,
    nowMs: number,
  ): Promise<number> {
    const pk = userKey(sub, userId);
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk, sk: 'SEQ' },
        UpdateExpression: 'ADD seq :one',
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const seq = Number(Attributes?.seq);
    const ttl = seconds(nowMs) + this.options.eventRetentionSeconds;
    const message: CallMessage = { v: PROTOCOL_VERSION, type: 'call', seq, view };
    // Event first, then the marker: a crash in between leaves an extra copy (the widget drops repeats by
    // call and state), never a marker pointing at an event that was not stored.
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { pk, sk: `E#${pad(seq)}`, message, ttl } }),
    );
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk, sk: `D#${deliveryKey}`, seq, ttl: seconds(nowMs) + DAY_SECONDS },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return seq;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    // A retry of a webhook this user already got: undo our copy and hand back the first seq.
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: { pk, sk: `E#${pad(seq)}` } }));
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk, sk: `D#${deliveryKey}` }, ConsistentRead: true }),
    );
    return Number(Item?.seq);
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

  async latestSeq(sub: string, userId: number): Promise<number> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: userKey(sub, userId), sk: 'SEQ' },
        ConsistentRead: true,
      }),
    );
    return Number(Item?.seq ?? 0);
  }

  async markActive(
    sub: string,
    userId: number,
    callId: string,
    active: boolean,
    nowMs: number,
  ): Promise<void> {
    const key = { pk: userKey(sub, userId), sk: `A#${callId}` };
    if (active) {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key, callId, ttl: seconds(nowMs) + DAY_SECONDS },
        }),
      );
    } else {
      await this.db.send(new DeleteCommand({ TableName: this.table, Key: key }));
    }
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
