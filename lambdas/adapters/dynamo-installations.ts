import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Installation, InstallationStore } from '../kommo/ports';
import type { TokenSet } from '../kommo/tokens-policy';
import { isConditionFailure } from './dynamo-items';
import { kommoDocumentClient } from './dynamo-kommo-table';

const key = (accountId: number) => ({ pk: `INSTALL#${accountId}` });

const toInstallation = (item: Record<string, unknown>): Installation => {
  const { pk: _pk, leaseOwner: _o, leaseUntil: _u, ttl: _t, ...rest } = item;
  return rest as unknown as Installation;
};

export class DynamoInstallationStore implements InstallationStore {
  private readonly db: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.db = kommoDocumentClient(client);
  }

  async getInstallation(accountId: number): Promise<Installation | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.table, Key: key(accountId), ConsistentRead: true }),
    );
    return Item ? toInstallation(Item) : undefined;
  }

  async saveInstallation(installation: Installation): Promise<void> {
    await this.db.send(
      new PutCommand({ TableName: this.table, Item: { ...key(installation.accountId), ...installation } }),
    );
  }

  async leaseRefresh(
    accountId: number,
    owner: string,
    refreshToken: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(accountId),
          UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until',
          ConditionExpression:
            '#status = :active AND tokens.refreshToken = :refresh AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':owner': owner,
            ':until': nowMs + leaseMs,
            ':active': 'active',
            ':refresh': refreshToken,
            ':now': nowMs,
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async completeRefresh(accountId: number, used: string, tokens: TokenSet, nowMs: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(accountId),
          UpdateExpression: 'SET tokens = :tokens, updatedAt = :now REMOVE leaseOwner, leaseUntil',
          ConditionExpression: 'tokens.refreshToken = :used AND #status = :active',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':tokens': tokens,
            ':now': nowMs,
            ':used': used,
            ':active': 'active',
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async releaseLease(accountId: number, owner: string): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(accountId),
          UpdateExpression: 'REMOVE leaseOwner, leaseUntil',
          ConditionExpression: 'leaseOwner = :owner',
          ExpressionAttributeValues: { ':owner': owner },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  async markNeedsReauth(
    accountId: number,
    reason: string,
    nowMs: number,
    refreshToken?: string,
  ): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(accountId),
          UpdateExpression:
            'SET #status = :status, reason = :reason, updatedAt = :now REMOVE leaseOwner, leaseUntil',
          ConditionExpression: refreshToken
            ? '#status = :active AND tokens.refreshToken = :refresh'
            : '#status = :active',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': 'needs_reauth',
            ':reason': reason,
            ':now': nowMs,
            ':active': 'active',
            ...(refreshToken ? { ':refresh': refreshToken } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async disable(accountId: number, nowMs: number, purgeAfter: number): Promise<Installation | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(accountId),
          UpdateExpression:
            'SET #status = :disabled, disabledAt = :now, purgeAfter = :purge, updatedAt = :now REMOVE tokens, leaseOwner, leaseUntil, reason',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':disabled': 'disabled', ':now': nowMs, ':purge': purgeAfter },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ? toInstallation(Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async markSettingsSynced(accountId: number, nowMs: number): Promise<void> {
    await this.db
      .send(
        new UpdateCommand({
          TableName: this.table,
          Key: key(accountId),
          UpdateExpression: 'SET settingsSyncedAt = :now',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':now': nowMs },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error;
      });
  }

  // From the hourly job only; one item per installed account.
  async listInstallations(): Promise<Installation[]> {
    const out: Installation[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: 'begins_with(pk, :install)',
          ExpressionAttributeValues: { ':install': 'INSTALL#' },
          ExclusiveStartKey: startKey,
        }),
      );
      out.push(...(page.Items ?? []).map(toInstallation));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  async removeInstallation(accountId: number): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.table, Key: key(accountId) }));
  }
}
