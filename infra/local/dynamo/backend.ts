/**
 * The front's own line to dynalite: forwards a client's request and makes the internal reads and writes the
 * emulation needs (old item images, shadow copies). dynalite checks that a request is signed, not the
 * signature, so internal calls carry a fixed, well-formed one.
 */
import { type Body, FrontError, type Item, isRecord, JSON_CONTENT_TYPE, TARGET_PREFIX } from './protocol';

export interface BackendReply {
  status: number;
  body: Body;
  requestId: string | undefined;
}

const INTERNAL_AUTH =
  'AWS4-HMAC-SHA256 Credential=dynamo-front/20200101/local/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0';

export class Backend {
  constructor(readonly endpoint: string) {}

  /** One DynamoDB call; the reply is returned whatever its status, so a client's error passes through as is. */
  async send(operation: string, body: Body): Promise<BackendReply> {
    const res = await fetch(this.endpoint, {
      method: 'POST',
      headers: {
        'content-type': JSON_CONTENT_TYPE,
        'x-amz-target': `${TARGET_PREFIX}${operation}`,
        'x-amz-date': '20200101T000000Z',
        authorization: INTERNAL_AUTH,
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { __type: 'com.amazon.coral.service#SerializationException', message: text };
    }
    return {
      status: res.status,
      body: isRecord(parsed) ? parsed : {},
      requestId: res.headers.get('x-amzn-requestid') ?? undefined,
    };
  }

  /** An internal call that must succeed; a failure is the emulator's own fault and surfaces as a 500. */
  async must(operation: string, body: Body): Promise<Body> {
    const reply = await this.send(operation, body);
    if (reply.status !== 200) {
      throw new FrontError(
        {
          __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
          message: `dynamo front: internal ${operation} failed: ${JSON.stringify(reply.body)}`,
        },
        500,
      );
    }
    return reply.body;
  }

  async getItem(table: string, key: Item): Promise<Item | undefined> {
    const body = await this.must('GetItem', { TableName: table, Key: key, ConsistentRead: true });
    return isRecord(body.Item) ? (body.Item as Item) : undefined;
  }

  async putItem(table: string, item: Item): Promise<void> {
    await this.must('PutItem', { TableName: table, Item: item });
  }

  async deleteItem(table: string, key: Item): Promise<void> {
    await this.must('DeleteItem', { TableName: table, Key: key });
  }

  /** Puts the image back as it was: the item, or its absence. */
  async restore(table: string, key: Item, image: Item | undefined): Promise<void> {
    if (image) await this.putItem(table, image);
    else await this.deleteItem(table, key);
  }

  async scanAll(table: string): Promise<Item[]> {
    const out: Item[] = [];
    let start: unknown;
    do {
      const page = await this.must('Scan', {
        TableName: table,
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      for (const item of Array.isArray(page.Items) ? page.Items : []) out.push(item as Item);
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }
}
