import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Integration, IntegrationStore } from '../kommo/ports';
import { kommoDocumentClient } from './dynamo-kommo-table';

const KEY = { pk: 'INTEGRATION' };

export class DynamoIntegrationStore implements IntegrationStore {
  private readonly db: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.db = kommoDocumentClient(client);
  }

  async getIntegration(): Promise<Integration | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.table, Key: KEY }));
    if (!Item) return undefined;
    const { pk: _pk, ...integration } = Item;
    return integration as Integration;
  }

  async putIntegration(integration: Integration): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.table, Item: { ...KEY, ...integration } }));
  }
}

/**
 * The integration changes only through the CLI; a container re-reads it at most once a minute so a new
 * secret key takes effect without a redeploy.
 */
export const cachedIntegration = (
  store: IntegrationStore,
  now: () => number,
  maxAgeMs = 60_000,
): (() => Promise<Integration | undefined>) => {
  let hit: { at: number; value: Integration | undefined } | undefined;
  return async () => {
    if (hit && now() - hit.at < maxAgeMs && hit.value) return hit.value;
    hit = { at: now(), value: await store.getIntegration() };
    return hit.value;
  };
};
