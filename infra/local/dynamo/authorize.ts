/**
 * What each DynamoDB call asks of IAM: the action `dynamodb:<Operation>` on the table ARN (`/index/<name>` for
 * an index Query or Scan), every table of a batch, and, inside transactions, the per-item actions
 * (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem) on each item's table. A table encrypted with
 * a customer managed key also needs the caller to be allowed the key: kms:Decrypt to read, and kms:Decrypt
 * plus kms:GenerateDataKey to write. Denials carry AWS's own message shapes.
 */
import { accessDenied, type Body, FrontError, isRecord } from './protocol';

export interface AuthorizeRequest {
  accessKeyId: string;
  /** `dynamodb:GetItem`, `kms:Decrypt`, … */
  action: string;
  /** Every ARN the action touches; allow only if all are allowed. */
  resources: string[];
  /** The DynamoDB operation and its parsed body, for condition keys (dynamodb:LeadingKeys and the like). */
  request: { operation: string; body: Body; region: string };
  /**
   * Condition keys the request carries. For the KMS checks: kms:ViaService (dynamodb.<region>.amazonaws.com)
   * and kms:CallerAccount, which DynamoDB key policies test.
   */
  context: Record<string, string>;
}

export type AuthorizeDecision =
  | { allow: true }
  | {
      allow: false;
      /** The caller as IAM names it, e.g. arn:aws:sts::123456789012:assumed-role/webhook-role/webhook. */
      principal: string;
      /** The first resource refused (defaults to the first of the request). */
      resource?: string;
      /** no-allow (no policy allows it) or explicit-deny (a Deny statement matched). */
      reason?: 'no-allow' | 'explicit-deny';
    };

export type Authorize = (request: AuthorizeRequest) => AuthorizeDecision | Promise<AuthorizeDecision>;

export interface ArnScope {
  region: string;
  accountId: string;
}

export const tableArn = (scope: ArnScope, table: string) =>
  `arn:aws:dynamodb:${scope.region}:${scope.accountId}:table/${table}`;

export interface Check {
  action: string;
  tables: { table: string; index?: string }[];
  kind: 'read' | 'write' | 'other';
}

const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

/** The IAM checks a request needs, in the order AWS would make them. */
export const checksFor = (operation: string, body: Body): Check[] => {
  const table = typeof body.TableName === 'string' ? body.TableName : undefined;
  const requestTables = isRecord(body.RequestItems) ? Object.keys(body.RequestItems) : [];
  if (operation === 'BatchGetItem' || operation === 'BatchWriteItem') {
    return [
      {
        action: `dynamodb:${operation}`,
        tables: requestTables.map((t) => ({ table: t })),
        kind: operation === 'BatchGetItem' ? 'read' : 'write',
      },
    ];
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const items = Array.isArray(body.TransactItems) ? body.TransactItems.filter(isRecord) : [];
    return items.flatMap((entry): Check[] => {
      const [kind, detail] = Object.entries(entry)[0] ?? [];
      if (!kind || !isRecord(detail) || typeof detail.TableName !== 'string') return [];
      const action = { Get: 'GetItem', Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem' }[kind];
      return [
        {
          action: `dynamodb:${action ?? 'ConditionCheckItem'}`,
          tables: [{ table: detail.TableName }],
          kind: kind === 'Get' || kind === 'ConditionCheck' ? 'read' : 'write',
        },
      ];
    });
  }
  if (operation === 'ListTables') return [{ action: 'dynamodb:ListTables', tables: [], kind: 'other' }];
  if (!table) return [];
  const index = (operation === 'Query' || operation === 'Scan') && typeof body.IndexName === 'string';
  return [
    {
      action: `dynamodb:${operation}`,
      tables: [index ? { table, index: String(body.IndexName) } : { table }],
      kind: READS.has(operation) ? 'read' : WRITES.has(operation) ? 'write' : 'other',
    },
  ];
};

export const resourceArns = (scope: ArnScope, check: Check): string[] =>
  check.tables.length === 0
    ? ['*']
    : check.tables.map((t) =>
        t.index ? `${tableArn(scope, t.table)}/index/${t.index}` : tableArn(scope, t.table),
      );

/** IAM's wording, e.g. "User: arn:aws:sts::…:assumed-role/r/s is not authorized to perform: dynamodb:Query on resource: arn:… because no identity-based policy allows the dynamodb:Query action". */
export const iamDenied = (
  principal: string,
  action: string,
  resource: string,
  reason: 'no-allow' | 'explicit-deny',
) =>
  accessDenied(
    `User: ${principal} is not authorized to perform: ${action} on resource: ${resource} ${
      reason === 'explicit-deny'
        ? 'with an explicit deny in an identity-based policy'
        : `because no identity-based policy allows the ${action} action`
    }`,
  );

/** What DynamoDB answers when the caller may not use the table's KMS key (seen on PutItem and GetItem alike). */
export const kmsDenied = (requestId: string) =>
  new FrontError({
    __type: 'com.amazon.coral.service#AccessDeniedException',
    Message: `KMS key access denied error: com.amazonaws.services.kms.model.AWSKMSException: The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: ${requestId}; Proxy: null)`,
  });

export const KMS_ACTIONS = {
  read: ['kms:Decrypt'],
  write: ['kms:Decrypt', 'kms:GenerateDataKey'],
} as const;
