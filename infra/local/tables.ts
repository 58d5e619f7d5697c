import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
} from '@aws-sdk/client-dynamodb';
import { ACCOUNTS_TABLE, KOMMO_TABLE, STATE_TABLE } from '../../lambdas/adapters/table-design';

/**
 * A new table is CREATING before it is ACTIVE, in dynalite as in DynamoDB, and a read in between fails with
 * ResourceNotFound (seen on a loaded machine): wait for ACTIVE, briefly and boundedly.
 */
const waitUntilActive = async (client: DynamoDBClient, name: string, timeoutMs = 15_000) => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline)
      throw new Error(`table ${name} is still ${Table?.TableStatus} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/** The same key design the CDK stack declares. dynalite has no TTL, so expiry is filtered on read. */
export const createTables = async (
  client: DynamoDBClient,
  names: { state: string; accounts: string; kommo?: string },
) => {
  const { partitionKey, sortKey } = STATE_TABLE;
  const create = async (command: CreateTableCommand) => {
    try {
      await client.send(command);
    } catch (error) {
      if (!(error instanceof ResourceInUseException || (error as Error).name === 'ResourceInUseException'))
        throw error;
    }
  };
  await create(
    new CreateTableCommand({
      TableName: names.state,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
  await create(
    new CreateTableCommand({
      TableName: names.accounts,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: ACCOUNTS_TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: ACCOUNTS_TABLE.partitionKey, KeyType: 'HASH' }],
    }),
  );
  if (names.kommo) {
    await create(
      new CreateTableCommand({
        TableName: names.kommo,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: KOMMO_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: KOMMO_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
  }
  await Promise.all([
    waitUntilActive(client, names.state),
    waitUntilActive(client, names.accounts),
    ...(names.kommo ? [waitUntilActive(client, names.kommo)] : []),
  ]);
};
