import { CreateTableCommand, type DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { ACCOUNTS_TABLE, STATE_TABLE } from '../../lambdas/adapters/table-design';

/** The same key design the CDK stack declares. dynalite has no TTL, so expiry is filtered on read. */
export const createTables = async (client: DynamoDBClient, names: { state: string; accounts: string }) => {
  const { partitionKey, sortKey, accountIndex } = STATE_TABLE;
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
        { AttributeName: accountIndex.partitionKey, AttributeType: 'S' },
        { AttributeName: accountIndex.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: accountIndex.name,
          KeySchema: [
            { AttributeName: accountIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: accountIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
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
};
