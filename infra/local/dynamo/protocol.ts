/**
 * The DynamoDB JSON protocol (awsJson1_0) as the front speaks it: attribute values, error bodies and the
 * exact error types and messages DynamoDB answers with, so the real SDK raises the same named errors here
 * as on AWS. Sources for each message are in docs/dynamo-front.md.
 */
export type AttributeValue =
  | { S: string }
  | { N: string }
  | { B: string }
  | { BOOL: boolean }
  | { NULL: boolean }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { L: AttributeValue[] }
  | { M: Record<string, AttributeValue> };

export type Item = Record<string, AttributeValue>;

/** A request body as parsed JSON: the front reads a few fields and passes the rest through untouched. */
export type Body = Record<string, unknown>;

export const TARGET_PREFIX = 'DynamoDB_20120810.';
export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';

export interface DynamoErrorBody {
  __type: string;
  message?: string;
  Message?: string;
  [extra: string]: unknown;
}

/** An error the front answers itself, HTTP 400 like every DynamoDB client error. */
export class FrontError extends Error {
  constructor(
    readonly body: DynamoErrorBody,
    readonly status = 400,
  ) {
    super(String(body.message ?? body.Message ?? body.__type));
  }
  get type(): string {
    return this.body.__type.split('#').pop() ?? this.body.__type;
  }
}

export const validationError = (message: string) =>
  new FrontError({ __type: 'com.amazon.coral.validate#ValidationException', message });

/** IAM denials come from the service framework (coral), with a capitalised `Message`. */
export const accessDenied = (message: string) =>
  new FrontError({ __type: 'com.amazon.coral.service#AccessDeniedException', Message: message });

export interface ThrottlingReason {
  reason: string;
  resource: string;
}

/** On-demand tables answer a hot key with ThrottlingException (retryable in every SDK). */
export const onDemandThrottled = (index: boolean, reasons: ThrottlingReason[]) =>
  new FrontError({
    __type: 'com.amazon.coral.availability#ThrottlingException',
    message: index
      ? 'Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.'
      : 'Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly. If exceptions persist, check if you have a hot key: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html',
    ThrottlingReasons: reasons,
  });

/** Provisioned tables answer with ProvisionedThroughputExceededException (also retryable). */
export const provisionedThrottled = (reasons: ThrottlingReason[]) =>
  new FrontError({
    __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    message:
      'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
    ThrottlingReasons: reasons,
  });

export const conditionalCheckFailed = () =>
  new FrontError({
    __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException',
    message: 'The conditional request failed',
  });

/** Reads an attribute value as text for keys and tallies: strings as they are, numbers in their JSON form. */
export const scalarText = (value: unknown): string | undefined => {
  if (!isRecord(value)) return undefined;
  for (const type of ['S', 'N', 'B'] as const) if (typeof value[type] === 'string') return value[type];
  return undefined;
};

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
