/**
 * The CRM ledger in the Kommo table (see table-design.ts):
 *   CRM#<accountId>#<step>#<callId>   one Kommo write of one call: sending (lease) → done | retry | uncertain
 *   CRMTASK#<accountId>#<phone key>   the open missed-call task of a number
 *   CRMSET#<accountId>                the account's CRM settings
 *   CRMFAIL#<accountId>               calls that could not be logged (a string set) and the last reason
 * Everything is written with UpdateItem and conditions, so a claim is atomic and creates its item.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ClaimResult, CrmFailures, CrmLedger, CrmStep, OpenTask } from '../crm/ports';
import { type CrmSettings, DEFAULT_CRM_SETTINGS } from '../crm/settings';
import { epochSeconds, isConditionFailure } from './dynamo-items';
import { kommoDocumentClient } from './dynamo-kommo-table';

/** A ledger entry outlives any retry of its call (SQS keeps a message 4 days). */
const LEDGER_TTL_SECONDS = 14 * 86_400;

const stepKey = (accountId: number, step: CrmStep, callId: string) => ({
  pk: `CRM#${accountId}#${step}#${callId}`,
});

export class DynamoCrmLedger implements CrmLedger {
  private readonly db: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.db = kommoDocumentClient(client);
  }

  async claim(
    accountId: number,
    step: CrmStep,
    callId: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<ClaimResult> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: stepKey(accountId, step, callId),
          UpdateExpression: 'SET #s = :sending, #o = :owner, leaseUntil = :until, #t = :ttl',
          ConditionExpression: 'attribute_not_exists(pk) OR #s = :retry',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner', '#t': 'ttl' },
          ExpressionAttributeValues: {
            ':sending': 'sending',
            ':retry': 'retry',
            ':owner': owner,
            ':until': nowMs + leaseMs,
            ':ttl': epochSeconds(nowMs) + LEDGER_TTL_SECONDS,
          },
        }),
      );
      return { kind: 'claimed' };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: stepKey(accountId, step, callId), ConsistentRead: true }),
    );
    if (!Item) return { kind: 'busy' };
    if (Item.status === 'done')
      return { kind: 'done', result: (Item.result ?? {}) as Record<string, string | number> };
    if (Item.status === 'uncertain') return { kind: 'uncertain' };
    if (Item.status === 'sending' && typeof Item.leaseUntil === 'number' && Item.leaseUntil < nowMs) {
      return { kind: 'uncertain' };
    }
    return { kind: 'busy' };
  }

  async finish(
    accountId: number,
    step: CrmStep,
    callId: string,
    owner: string,
    result: Record<string, string | number>,
  ): Promise<void> {
    // Unconditional on the owner: the write happened, whoever records it.
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: stepKey(accountId, step, callId),
        UpdateExpression: 'SET #s = :done, #r = :result, #o = :owner REMOVE leaseUntil',
        ExpressionAttributeNames: { '#s': 'status', '#r': 'result', '#o': 'owner' },
        ExpressionAttributeValues: { ':done': 'done', ':result': result, ':owner': owner },
      }),
    );
  }

  async release(accountId: number, step: CrmStep, callId: string, owner: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: stepKey(accountId, step, callId),
          UpdateExpression: 'SET #s = :retry REMOVE leaseUntil',
          ConditionExpression: '#s = :sending AND #o = :owner',
          ExpressionAttributeNames: { '#s': 'status', '#o': 'owner' },
          ExpressionAttributeValues: { ':retry': 'retry', ':sending': 'sending', ':owner': owner },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
  }

  async markUncertain(accountId: number, step: CrmStep, callId: string, nowMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: stepKey(accountId, step, callId),
          UpdateExpression: 'SET #s = :uncertain REMOVE leaseUntil',
          ConditionExpression: '#s = :sending AND leaseUntil < :now',
          ExpressionAttributeNames: { '#s': 'status' },
          ExpressionAttributeValues: { ':uncertain': 'uncertain', ':sending': 'sending', ':now': nowMs },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async putOpenTask(accountId: number, phoneKey: string, task: OpenTask, ttlSeconds: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `CRMTASK#${accountId}#${phoneKey}` },
        UpdateExpression: `SET taskId = :id, dueAt = :due, callId = :call, #t = :ttl${task.missedAt === undefined ? '' : ', missedAt = :missed'} REMOVE takenAt`,
        ExpressionAttributeNames: { '#t': 'ttl' },
        ExpressionAttributeValues: {
          ':id': task.taskId,
          ':due': task.dueAt,
          ':call': task.callId,
          ':ttl': ttlSeconds,
          ...(task.missedAt === undefined ? {} : { ':missed': task.missedAt }),
        },
      }),
    );
  }

  async takeOpenTask(
    accountId: number,
    phoneKey: string,
    startedAtSeconds: number,
  ): Promise<OpenTask | undefined> {
    // Taken by marking, not deleting: one conditional write decides who completes it, and the worker needs
    // no DeleteItem on a table that holds tokens. The item expires with its TTL.
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `CRMTASK#${accountId}#${phoneKey}` },
          UpdateExpression: 'SET takenAt = :t',
          // A call that began before the missed one (still on while it rang) is no answer to it; one in the
          // same second is taken as after it (times are in whole seconds). Tasks stored before missedAt
          // existed have none and keep the old rule.
          ConditionExpression:
            'dueAt > :t AND attribute_not_exists(takenAt) AND (attribute_not_exists(missedAt) OR missedAt <= :t)',
          ExpressionAttributeValues: { ':t': startedAtSeconds },
          ReturnValues: 'ALL_OLD',
        }),
      );
      if (!Attributes) return undefined;
      return {
        taskId: Number(Attributes.taskId),
        dueAt: Number(Attributes.dueAt),
        callId: String(Attributes.callId),
        ...(Attributes.missedAt === undefined ? {} : { missedAt: Number(Attributes.missedAt) }),
      };
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async getSettings(accountId: number): Promise<CrmSettings | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: `CRMSET#${accountId}` }, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, ...rest } = Item;
    return { ...DEFAULT_CRM_SETTINGS, ...(rest as Partial<CrmSettings>) };
  }

  async putSettings(accountId: number, settings: CrmSettings): Promise<void> {
    const entries = Object.entries(settings).filter(([, value]) => value !== undefined);
    const names = Object.fromEntries(entries.map(([k], i) => [`#k${i}`, k]));
    const values = Object.fromEntries(entries.map(([, value], i) => [`:v${i}`, value]));
    const set = entries.map((_, i) => `#k${i} = :v${i}`).join(', ');
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `CRMSET#${accountId}` },
        UpdateExpression: `SET ${set}${settings.dutyUserId === undefined ? ' REMOVE dutyUserId' : ''}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async recordFailure(accountId: number, callId: string, reason: string, nowMs: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `CRMFAIL#${accountId}` },
        UpdateExpression: 'ADD calls :call SET reason = :reason, #at = :at',
        ExpressionAttributeNames: { '#at': 'at' },
        ExpressionAttributeValues: { ':call': new Set([callId]), ':reason': reason, ':at': nowMs },
      }),
    );
  }

  async clearFailure(accountId: number, callId: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `CRMFAIL#${accountId}` },
        UpdateExpression: 'DELETE calls :call',
        ExpressionAttributeValues: { ':call': new Set([callId]) },
      }),
    );
  }

  async failures(accountId: number): Promise<CrmFailures> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: { pk: `CRMFAIL#${accountId}` }, ConsistentRead: true }),
    );
    const calls = Item?.calls instanceof Set ? Item.calls.size : 0;
    return calls === 0
      ? { count: 0 }
      : { count: calls, reason: String(Item?.reason ?? ''), at: Number(Item?.at ?? 0) };
  }
}
