import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { InstallCodeStore, PendingInstall } from '../kommo/ports';
import { epochSeconds, isConditionFailure } from './dynamo-items';
import { kommoDocumentClient } from './dynamo-kommo-table';

/** A code is worth nothing after 20 minutes; a failed one stays a day for support, then TTL removes it. */
const KEEP_SECONDS = 86_400;

const toPending = (item: Record<string, unknown>): PendingInstall => {
  const { pk: _pk, ttl: _ttl, ...rest } = item;
  return rest as unknown as PendingInstall;
};

export class DynamoInstallCodeStore implements InstallCodeStore {
  private readonly db: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.db = kommoDocumentClient(client);
  }

  async saveCode(pending: PendingInstall): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `CODE#${pending.id}`,
            ttl: epochSeconds(pending.receivedAt) + KEEP_SECONDS,
            ...pending,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async claimCode(id: string, nowMs: number, leaseMs: number): Promise<PendingInstall | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `CODE#${id}` },
          UpdateExpression: 'SET leaseUntil = :until, attempts = attempts + :one',
          ConditionExpression:
            'attribute_exists(pk) AND #status = :pending AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':until': nowMs + leaseMs,
            ':one': 1,
            ':pending': 'pending',
            ':now': nowMs,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toPending(Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  // The code itself is dropped (it is spent), the record stays until its TTL so a repeated redirect with the
  // same code is recognised and not exchanged again.
  async finishCode(id: string): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `CODE#${id}` },
        UpdateExpression: 'SET #status = :done REMOVE code, leaseUntil, failure',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':done': 'done' },
      }),
    );
  }

  async failCode(id: string, reason: string, final: boolean, _nowMs: number): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `CODE#${id}` },
          UpdateExpression: final
            ? 'SET failure = :reason, #status = :failed REMOVE leaseUntil'
            : 'SET failure = :reason REMOVE leaseUntil',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: final ? { '#status': 'status' } : undefined,
          ExpressionAttributeValues: final
            ? { ':reason': reason, ':failed': 'failed' }
            : { ':reason': reason },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  // The table holds one item per installed account plus a few codes: a filtered Scan, from the hourly job only.
  async pendingCodes(): Promise<PendingInstall[]> {
    const out: PendingInstall[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(pk, :code) AND #status = :pending',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':code': 'CODE#', ':pending': 'pending' },
          ExclusiveStartKey: startKey,
        }),
      );
      out.push(...(page.Items ?? []).map(toPending));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }
}
