/**
 * SQS for the rehearsal, kept small: the queues of the template (visibility timeout, receive count, redrive
 * to the dead-letter queue after maxReceiveCount), an HTTP endpoint speaking SQS's JSON protocol for
 * SendMessage (what the functions call; a per-message DelaySeconds hides the message that long), and the
 * template's event source mappings run as the Lambda service does: receive a batch with the function's role,
 * invoke, delete what did not fail. Every call is checked against the caller's role by the rehearsal's
 * `decide`, as its DynamoDB front does.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAuthorization } from '../local/dynamo/sigv4';

export type Decide = (
  accessKeyId: string | undefined,
  action: string,
  resource: string,
) => { allowed: boolean; principal: string };

interface Message {
  id: string;
  body: string;
  receives: number;
  visibleAt: number;
  receipt?: string;
}

export interface RehearsalQueue {
  arn: string;
  name: string;
  visibilityMs: number;
  redrive?: { deadLetterArn: string; maxReceiveCount: number };
  messages: Message[];
}

export interface EventSourceMapping {
  queueArn: string;
  /** The function's logical id, and the access key it signs with (its role). */
  fn: string;
  accessKeyId: string;
  batchSize: number;
  invoke: (event: unknown) => Promise<unknown>;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

export class SqsStandIn {
  readonly queues = new Map<string, RehearsalQueue>();
  private server: Server | undefined;
  private timers: NodeJS.Timeout[] = [];
  private polling = new Set<Promise<void>>();
  url = '';

  constructor(private readonly decide: Decide) {}

  addQueue(queue: Omit<RehearsalQueue, 'messages'>) {
    this.queues.set(queue.arn, { ...queue, messages: [] });
  }

  private byName(name: string) {
    return [...this.queues.values()].find((q) => q.name === name);
  }

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify(body));
        };
        const target = String(req.headers['x-amz-target'] ?? '');
        let input: { QueueUrl?: string; MessageBody?: string; DelaySeconds?: unknown };
        try {
          input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        } catch {
          return reply(400, { __type: 'com.amazonaws.sqs#InvalidParameterValue', message: 'not JSON' });
        }
        if (target !== 'AmazonSQS.SendMessage') {
          return reply(400, {
            __type: 'com.amazonaws.sqs#UnsupportedOperation',
            message: `${target} is not modelled`,
          });
        }
        const queue = this.byName(
          String(input.QueueUrl ?? '')
            .split('/')
            .pop() ?? '',
        );
        if (!queue)
          return reply(400, { __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'no such queue' });
        const caller = parseAuthorization(req.headers.authorization);
        const decision = this.decide(caller?.accessKeyId, 'sqs:SendMessage', queue.arn);
        if (!decision.allowed) {
          return reply(400, {
            __type: 'com.amazon.coral.service#AccessDeniedException',
            message: `User: ${decision.principal} is not authorized to perform: sqs:SendMessage on resource: ${queue.arn}`,
          });
        }
        // A per-message delay (standard queues): 0-900 whole seconds, else SQS refuses the message.
        const delay = input.DelaySeconds ?? 0;
        if (typeof delay !== 'number' || !Number.isInteger(delay) || delay < 0 || delay > 900) {
          return reply(400, {
            __type: 'com.amazonaws.sqs#InvalidParameterValue',
            message: `Value ${JSON.stringify(delay)} for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.`,
          });
        }
        const body = String(input.MessageBody ?? '');
        const id = randomUUID();
        queue.messages.push({ id, body, receives: 0, visibleAt: delay > 0 ? Date.now() + delay * 1000 : 0 });
        return reply(200, { MessageId: id, MD5OfMessageBody: md5(body) });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** One receive → invoke → delete round of a mapping; the number of messages handed to the function. */
  async poll(mapping: EventSourceMapping): Promise<number> {
    const queue = this.queues.get(mapping.queueArn);
    if (!queue) throw new Error(`rehearsal: no queue ${mapping.queueArn}`);
    if (!this.decide(mapping.accessKeyId, 'sqs:ReceiveMessage', queue.arn).allowed) {
      throw new Error(`rehearsal: ${mapping.fn} may not receive from ${queue.name}`);
    }
    const now = Date.now();
    const batch: Message[] = [];
    for (const message of [...queue.messages]) {
      if (batch.length >= mapping.batchSize || message.visibleAt > now) continue;
      if (queue.redrive && message.receives >= queue.redrive.maxReceiveCount) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        this.queues.get(queue.redrive.deadLetterArn)?.messages.push({ ...message, receipt: undefined });
        continue;
      }
      message.receives++;
      message.visibleAt = now + queue.visibilityMs;
      message.receipt = randomUUID();
      batch.push(message);
    }
    if (batch.length === 0) return 0;
    const event = {
      Records: batch.map((m) => ({
        messageId: m.id,
        receiptHandle: m.receipt,
        body: m.body,
        attributes: { ApproximateReceiveCount: String(m.receives) },
        messageAttributes: {},
        md5OfBody: md5(m.body),
        eventSource: 'aws:sqs',
        eventSourceARN: queue.arn,
        awsRegion: queue.arn.split(':')[3],
      })),
    };
    let failed: Set<string>;
    try {
      const result = (await mapping.invoke(event)) as { batchItemFailures?: { itemIdentifier: string }[] };
      failed = new Set((result?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failed = new Set(batch.map((m) => m.id));
    }
    if (!this.decide(mapping.accessKeyId, 'sqs:DeleteMessage', queue.arn).allowed) {
      throw new Error(`rehearsal: ${mapping.fn} may not delete from ${queue.name}`);
    }
    queue.messages = queue.messages.filter((m) => failed.has(m.id) || !batch.includes(m));
    return batch.length;
  }

  /** Poll a mapping every `everyMs`, one round at a time, as the event source mapping does. */
  start(mapping: EventSourceMapping, everyMs = 100) {
    let busy = false;
    this.timers.push(
      setInterval(() => {
        if (busy) return;
        busy = true;
        const round = this.poll(mapping)
          .catch(() => 0)
          .then(() => {
            busy = false;
            this.polling.delete(round);
          });
        this.polling.add(round);
      }, everyMs),
    );
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([...this.polling]);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
