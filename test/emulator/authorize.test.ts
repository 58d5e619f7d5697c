/**
 * Every call passes an IAM check before it reaches the data: the front parses the SigV4 credential, names
 * the action and resources, asks the `authorize` hook, and answers a denial as DynamoDB does, so the real
 * SDK throws AccessDeniedException. Tables with a customer managed key also need the key (KMS).
 */
import { CreateTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuthorizeDecision, AuthorizeRequest } from '../../infra/local/dynamo/authorize';
import { type FrontHarness, rejection, startFront, stateLikeTable } from './harness';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const arn = (table: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${table}`;
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

/** A tiny stand-in policy: which key may do which action on which resource (the lead's evaluator replaces it). */
let allowed: Set<string>;
const calls: AuthorizeRequest[] = [];
const allow = (key: string, action: string, resource: string) => allowed.add(`${key} ${action} ${resource}`);
const authorize = (request: AuthorizeRequest): AuthorizeDecision => {
  calls.push(request);
  const denied = request.resources.find((r) => !allowed.has(`${request.accessKeyId} ${request.action} ${r}`));
  if (!denied) return { allow: true };
  return {
    allow: false,
    principal: `arn:aws:sts::${ACCOUNT}:assumed-role/${request.accessKeyId}-role/${request.accessKeyId}`,
    resource: denied,
  };
};

let h: FrontHarness;
beforeAll(async () => {
  h = await startFront({ authorize, region: REGION, accountId: ACCOUNT, encryptedTables: { secure: KEY } });
  allowed = new Set();
  allow('admin', 'dynamodb:CreateTable', arn('open'));
  allow('admin', 'dynamodb:CreateTable', arn('secure'));
  const admin = h.client('admin');
  await admin.send(new CreateTableCommand(stateLikeTable('open')));
  await admin.send(new CreateTableCommand(stateLikeTable('secure')));
});
afterAll(() => h.stop());
beforeEach(() => {
  allowed = new Set();
  calls.length = 0;
});

const as = (key: string) => DynamoDBDocumentClient.from(h.client(key));

describe('IAM', () => {
  it('answers a denied call with AccessDeniedException in IAM words, and the call changes nothing', async () => {
    const error = await rejection(
      as('webhook').send(new PutCommand({ TableName: 'open', Item: { pk: 'p', sk: 's' } })),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toBe(
      `User: arn:aws:sts::${ACCOUNT}:assumed-role/webhook-role/webhook is not authorized to perform: dynamodb:PutItem on resource: ${arn('open')} because no identity-based policy allows the dynamodb:PutItem action`,
    );
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400);
    allow('reader', 'dynamodb:GetItem', arn('open'));
    expect(
      (await as('reader').send(new GetCommand({ TableName: 'open', Key: { pk: 'p', sk: 's' } }))).Item,
    ).toBeUndefined();
  });

  it('lets an allowed call through, naming the caller, action and table ARN', async () => {
    allow('webhook', 'dynamodb:PutItem', arn('open'));
    await as('webhook').send(new PutCommand({ TableName: 'open', Item: { pk: 'p', sk: 's' } }));
    expect(calls.map((c) => [c.accessKeyId, c.action, c.resources])).toEqual([
      ['webhook', 'dynamodb:PutItem', [arn('open')]],
    ]);
    expect(calls[0]?.request.operation).toBe('PutItem');
  });

  it('an index Query needs the index ARN, not the table ARN', async () => {
    allow('router', 'dynamodb:Query', arn('open'));
    const error = await rejection(
      as('router').send(
        new QueryCommand({
          TableName: 'open',
          IndexName: 'byAccount',
          KeyConditionExpression: 'gsi1pk = :a',
          ExpressionAttributeValues: { ':a': 'x' },
        }),
      ),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain(`on resource: ${arn('open')}/index/byAccount because`);
    allow('router', 'dynamodb:Query', `${arn('open')}/index/byAccount`);
    await as('router').send(
      new QueryCommand({
        TableName: 'open',
        IndexName: 'byAccount',
        KeyConditionExpression: 'gsi1pk = :a',
        ExpressionAttributeValues: { ':a': 'x' },
      }),
    );
  });

  it('a batch needs its action on every table it touches', async () => {
    allow('batcher', 'dynamodb:BatchWriteItem', arn('open'));
    const error = await rejection(
      as('batcher').send(
        new BatchWriteCommand({
          RequestItems: {
            open: [{ PutRequest: { Item: { pk: 'a', sk: 'a' } } }],
            other: [{ PutRequest: { Item: { pk: 'a', sk: 'a' } } }],
          },
        }),
      ),
    );
    expect(error.message).toContain(`dynamodb:BatchWriteItem on resource: ${arn('other')}`);
  });

  it('a transaction needs the per-item actions (PutItem, ConditionCheckItem) on each table', async () => {
    allow('tx', 'dynamodb:PutItem', arn('open'));
    const error = await rejection(
      as('tx').send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName: 'open', Item: { pk: 't', sk: 't' } } },
            {
              ConditionCheck: {
                TableName: 'open',
                Key: { pk: 'p', sk: 's' },
                ConditionExpression: 'attribute_exists(pk)',
              },
            },
          ],
        }),
      ),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toContain('not authorized to perform: dynamodb:ConditionCheckItem on resource');
  });

  it('ListTables is checked against resource *', async () => {
    const error = await rejection(h.client('lister').send(new ListTablesCommand({})));
    expect(error.message).toContain('dynamodb:ListTables on resource: * because');
  });

  it('words an explicit deny as IAM does', async () => {
    const front = await startFront({
      region: REGION,
      accountId: ACCOUNT,
      authorize: () => ({
        allow: false,
        principal: `arn:aws:iam::${ACCOUNT}:user/mallory`,
        reason: 'explicit-deny',
      }),
    });
    try {
      const error = await rejection(front.client('m').send(new ListTablesCommand({})));
      expect(error.message).toBe(
        `User: arn:aws:iam::${ACCOUNT}:user/mallory is not authorized to perform: dynamodb:ListTables on resource: * with an explicit deny in an identity-based policy`,
      );
    } finally {
      await front.stop();
    }
  });
});

describe('KMS on a table with a customer managed key', () => {
  it('a read also needs kms:Decrypt on the key; without it DynamoDB answers with its KMS access error', async () => {
    allow('reader', 'dynamodb:GetItem', arn('secure'));
    const error = await rejection(
      as('reader').send(new GetCommand({ TableName: 'secure', Key: { pk: 'p', sk: 's' } })),
    );
    expect(error.name).toBe('AccessDeniedException');
    expect(error.message).toMatch(
      /^KMS key access denied error: com\.amazonaws\.services\.kms\.model\.AWSKMSException: /,
    );
    expect(calls.at(-1)).toMatchObject({
      action: 'kms:Decrypt',
      resources: [KEY],
      // Key policies for DynamoDB test these (kms:ViaService and kms:CallerAccount conditions).
      context: { 'kms:ViaService': `dynamodb.${REGION}.amazonaws.com`, 'kms:CallerAccount': ACCOUNT },
    });
    allow('reader', 'kms:Decrypt', KEY);
    await as('reader').send(new GetCommand({ TableName: 'secure', Key: { pk: 'p', sk: 's' } }));
  });

  it('a write needs kms:Decrypt and kms:GenerateDataKey', async () => {
    allow('writer', 'dynamodb:PutItem', arn('secure'));
    allow('writer', 'kms:Decrypt', KEY);
    const error = await rejection(
      as('writer').send(new PutCommand({ TableName: 'secure', Item: { pk: 'p', sk: 's' } })),
    );
    expect(error.message).toMatch(/^KMS key access denied error/);
    expect(calls.at(-1)).toMatchObject({ action: 'kms:GenerateDataKey' });
    allow('writer', 'kms:GenerateDataKey', KEY);
    await as('writer').send(new PutCommand({ TableName: 'secure', Item: { pk: 'p', sk: 's' } }));
  });

  it('a table without a customer managed key asks nothing of KMS', async () => {
    allow('reader', 'dynamodb:GetItem', arn('open'));
    await as('reader').send(new GetCommand({ TableName: 'open', Key: { pk: 'p', sk: 's' } }));
    expect(calls.map((c) => c.action)).toEqual(['dynamodb:GetItem']);
  });
});

describe('a function process pointed at the front by environment', () => {
  it('AWS_ENDPOINT_URL_DYNAMODB sends an unmodified SDK client to the front, with its own credentials', async () => {
    const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
    const saved = process.env.AWS_ENDPOINT_URL_DYNAMODB;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = h.front.endpoint;
    try {
      const client = new DynamoDBClient({
        region: REGION,
        credentials: { accessKeyId: 'AKIAWEBHOOKFUNCTION', secretAccessKey: 'x' },
        maxAttempts: 1,
      });
      const error = await rejection(client.send(new ListTablesCommand({})));
      client.destroy();
      expect(error.name).toBe('AccessDeniedException');
      expect(calls.at(-1)).toMatchObject({
        accessKeyId: 'AKIAWEBHOOKFUNCTION',
        action: 'dynamodb:ListTables',
      });
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
      else process.env.AWS_ENDPOINT_URL_DYNAMODB = saved;
    }
  });
});
