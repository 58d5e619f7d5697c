/**
 * The local stand-in for SQS behind the CRM queue port, kept in the local DynamoDB (so it survives a restart
 * of `npm start` when dynalite has a data directory), with SQS's semantics where they matter: a received
 * message is hidden for the visibility timeout, its receive count grows with each receive, and one received
 * `maxReceives` times without being deleted goes to the dead-letter list instead of being received again, and
 * a message sent with a delay is received only once the delay is over.
 * Deleting needs the receipt of the latest receive, as SQS's receipt handle.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { isConditionFailure } from '../../lambdas/adapters/dynamo-items';
import type { CrmJob, CrmQueue, SendOptions } from '../../lambdas/crm/ports';
import type { Clock } from '../../lambdas/ports';

export interface LocalQueueOptions {
  table: string;
  queue: string;
  visibilityMs: number;
  maxReceives: number;
  clock: Clock;
}

export interface ReceivedMessage {
  id: string;
  receipt: string;
  body: string;
  receives: number;
}

export class LocalQueue implements CrmQueue {
  private readonly db: DynamoDBDocumentClient;
  private seq = 0;

  constructor(
    client: DynamoDBClient,
    readonly options: LocalQueueOptions,
  ) {
    this.db = DynamoDBDocumentClient.from(client);
  }

  static async ensureTable(client: DynamoDBClient, table: string): Promise<void> {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await waitUntilTableExists({ client, maxWaitTime: 30, minDelay: 1 }, { TableName: table });
  }

  async send(jobs: readonly CrmJob[], options: SendOptions = {}): Promise<void> {
    const now = this.options.clock.now();
    const delay = options.delaySeconds ?? 0;
    // SQS refuses a delay outside 0-900 s (InvalidParameterValue); so does its stand-in.
    if (!Number.isInteger(delay) || delay < 0 || delay > 900) {
      throw new Error(`DelaySeconds: expected a whole number of seconds from 0 to 900, got ${delay}`);
    }
    for (const job of jobs) {
      // Sent order, for a FIFO-ish receive (SQS standard is only roughly ordered; nothing here relies on it).
      const order = `${String(now).padStart(15, '0')}-${String(++this.seq).padStart(9, '0')}`;
      await this.db.send(
        new PutCommand({
          TableName: this.options.table,
          Item: {
            id: `${this.options.queue}#${randomUUID()}`,
            queue: this.options.queue,
            order,
            body: JSON.stringify(job),
            // A delayed message is invisible until its delay is over, as on SQS.
            visibleAt: now + delay * 1000,
            receives: 0,
            dead: false,
          },
        }),
      );
    }
  }

  private async all(): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new ScanCommand({
          TableName: this.options.table,
          ConsistentRead: true,
          FilterExpression: '#q = :q',
          ExpressionAttributeNames: { '#q': 'queue' },
          ExpressionAttributeValues: { ':q': this.options.queue },
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => String(a.order).localeCompare(String(b.order)));
  }

  /** Up to `max` visible messages, hidden for the visibility timeout; over-received ones go dead instead. */
  async receive(max: number): Promise<ReceivedMessage[]> {
    const now = this.options.clock.now();
    const out: ReceivedMessage[] = [];
    for (const item of await this.all()) {
      if (out.length >= max) break;
      if (item.dead || Number(item.visibleAt) > now) continue;
      const receives = Number(item.receives);
      const dead = receives >= this.options.maxReceives;
      const receipt = randomUUID();
      try {
        await this.db.send(
          new UpdateCommand({
            TableName: this.options.table,
            Key: { id: item.id },
            UpdateExpression: dead
              ? 'SET dead = :true'
              : 'SET visibleAt = :hidden, receives = receives + :one, receipt = :receipt',
            ConditionExpression: 'visibleAt <= :now AND dead = :false',
            ExpressionAttributeValues: dead
              ? { ':true': true, ':false': false, ':now': now }
              : {
                  ':hidden': now + this.options.visibilityMs,
                  ':one': 1,
                  ':receipt': receipt,
                  ':now': now,
                  ':false': false,
                },
          }),
        );
      } catch (error) {
        if (isConditionFailure(error)) continue;
        throw error;
      }
      if (!dead) out.push({ id: String(item.id), receipt, body: String(item.body), receives: receives + 1 });
    }
    return out;
  }

  /** Deletes a message if `receipt` is still its latest receive's (an older receiver's delete is void). */
  async delete(id: string, receipt: string): Promise<boolean> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.options.table,
          Key: { id },
          ConditionExpression: 'receipt = :r',
          ExpressionAttributeValues: { ':r': receipt },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The bodies of the messages still in the queue (visible or not), dead ones apart. */
  async peek(): Promise<{ body: string; receives: number; dead: boolean }[]> {
    return (await this.all()).map((i) => ({
      body: String(i.body),
      receives: Number(i.receives),
      dead: Boolean(i.dead),
    }));
  }

  async stats(): Promise<{ waiting: number; visible: number; dead: number }> {
    const now = this.options.clock.now();
    const items = await this.all();
    return {
      waiting: items.filter((i) => !i.dead).length,
      visible: items.filter((i) => !i.dead && Number(i.visibleAt) <= now).length,
      dead: items.filter((i) => i.dead).length,
    };
  }
}

export type SqsHandler = (event: SQSEvent) => Promise<{ batchItemFailures: { itemIdentifier: string }[] }>;

/** The event source mapping: receive a batch, invoke, delete what did not fail. */
export const pollOnce = async (
  queue: LocalQueue,
  handler: SqsHandler,
  batchSize: number,
): Promise<number> => {
  const messages = await queue.receive(batchSize);
  if (messages.length === 0) return 0;
  const event = {
    Records: messages.map((m) => ({
      messageId: m.id,
      receiptHandle: m.receipt,
      body: m.body,
      attributes: { ApproximateReceiveCount: String(m.receives) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:local:000000000000:${queue.options.queue}`,
      awsRegion: 'local',
    })),
  } as unknown as SQSEvent;
  let failed: Set<string>;
  try {
    const result = await handler(event);
    failed = new Set(result.batchItemFailures.map((f) => f.itemIdentifier));
  } catch {
    // A function error fails the whole batch, as Lambda does.
    failed = new Set(messages.map((m) => m.id));
  }
  for (const message of messages)
    if (!failed.has(message.id)) await queue.delete(message.id, message.receipt);
  return messages.length;
};
