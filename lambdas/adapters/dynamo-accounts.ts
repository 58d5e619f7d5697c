import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Account, AccountStore, Clock } from '../ports';

export class DynamoAccountStore implements AccountStore {
  private readonly db: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.db = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async getAccount(subdomain: string): Promise<Account | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { subdomain } }));
    return Item as Account | undefined;
  }

  async putAccount(account: Account): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: account }));
  }

  // Admin-only (the accounts CLI); a deployment holds a handful of accounts, so a Scan is fine here.
  async listAccounts(): Promise<Account[]> {
    const out: Account[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: startKey }),
      );
      out.push(...((page.Items ?? []) as Account[]));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }

  async removeAccount(subdomain: string): Promise<boolean> {
    const { Attributes } = await this.db.send(
      new DeleteCommand({ TableName: this.tableName, Key: { subdomain }, ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
  }
}

/**
 * Secrets are read on every webhook and token; caching them in the function keeps that off DynamoDB, and the
 * bounded age (≤ 5 min) is what makes a rotation take effect without a redeploy.
 */
export const cachedAccountLookup = (
  store: Pick<AccountStore, 'getAccount'>,
  clock: Clock,
  maxAgeMs = 5 * 60_000,
): ((subdomain: string) => Promise<Account | undefined>) => {
  const maxAge = Math.min(maxAgeMs, 5 * 60_000);
  const cache = new Map<string, { expires: number; account: Account | undefined }>();
  return async (subdomain) => {
    const hit = cache.get(subdomain);
    const now = clock.now();
    if (hit && now < hit.expires) return hit.account;
    const account = await store.getAccount(subdomain);
    // A miss is cached too, but for at most 10 s: unknown subdomains cannot hammer the table, and an account
    // added a moment after a miss is found soon.
    cache.set(subdomain, { expires: now + (account ? maxAge : Math.min(maxAge, 10_000)), account });
    if (cache.size > 1000) cache.delete(cache.keys().next().value as string);
    return account;
  };
};

/**
 * An account store for a function that may read accounts but not write them (the CRM worker): flagging an
 * account for re-authorization is left to the maintenance job, which finds the same revoked token within
 * the hour; the installation itself is flagged in the Kommo table at once.
 */
export const readOnlyAccounts = (store: AccountStore): AccountStore => ({
  getAccount: (subdomain) => store.getAccount(subdomain),
  putAccount: async () => {},
  listAccounts: () => store.listAccounts(),
  removeAccount: async () => false,
});
