import { CreateTableCommand, type CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type DynamoFrontOptions, startDynamoFront } from '../../infra/local/dynamo/front';
import { startDynalite } from '../../infra/local/stack';

/** dynalite with the strict front before it, and real SDK clients pointed at the front. */
export const startFront = async (options: Omit<DynamoFrontOptions, 'backendEndpoint'> = {}) => {
  const db = await startDynalite();
  const front = await startDynamoFront({ backendEndpoint: db.endpoint, ...options });
  const clients: DynamoDBClient[] = [];
  const client = (accessKeyId = 'test-key') => {
    // One attempt: a test sees the first answer, not the SDK's retry of it.
    const c = new DynamoDBClient({
      endpoint: front.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId, secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
    clients.push(c);
    return c;
  };
  const raw = client();
  const doc = DynamoDBDocumentClient.from(raw);
  return {
    front,
    raw,
    doc,
    client,
    async createTable(input: CreateTableCommandInput) {
      await raw.send(new CreateTableCommand(input));
    },
    async stop() {
      for (const c of clients) c.destroy();
      await front.close();
      await db.close();
    },
  };
};

export type FrontHarness = Awaited<ReturnType<typeof startFront>>;

/** A table like the state table: pk/sk, and a GSI byAccount on gsi1pk/gsi1sk projecting everything. */
export const stateLikeTable = (
  name: string,
  billing: 'PAY_PER_REQUEST' | 'PROVISIONED' = 'PAY_PER_REQUEST',
) =>
  ({
    TableName: name,
    ...(billing === 'PAY_PER_REQUEST'
      ? { BillingMode: 'PAY_PER_REQUEST' }
      : { ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 } }),
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'gsi1pk', AttributeType: 'S' },
      { AttributeName: 'gsi1sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: 'byAccount',
        KeySchema: [
          { AttributeName: 'gsi1pk', KeyType: 'HASH' },
          { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
        ...(billing === 'PROVISIONED'
          ? { ProvisionedThroughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 } }
          : {}),
      },
    ],
  }) satisfies CreateTableCommandInput;

/** An item of exactly `bytes` bytes as DynamoDB sizes it (ASCII names and values): pk, sk and a pad. */
export const sizedItem = (pk: string, sk: string, bytes: number) => {
  const fixed = 'pk'.length + pk.length + 'sk'.length + sk.length + 'pad'.length;
  if (bytes < fixed) throw new Error(`an item of ${bytes} bytes cannot hold its keys`);
  return { pk, sk, pad: 'x'.repeat(bytes - fixed) };
};

/** Catches the error a promise rejects with, or fails the test when it resolves. */
export const rejection = async (promise: Promise<unknown>): Promise<Error & Record<string, unknown>> => {
  try {
    await promise;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected the call to be refused, and it succeeded');
};

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
