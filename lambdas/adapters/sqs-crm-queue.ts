/** The CRM queue on AWS: SQS (a dead-letter queue and its alarm come with the manifest's queue trigger). */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { CrmJob, CrmQueue, SendOptions } from '../crm/ports';

export class SqsCrmQueue implements CrmQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(jobs: readonly CrmJob[], options: SendOptions = {}): Promise<void> {
    // One message per job: a webhook makes one at a time, and each is retried on its own. A per-message
    // delay is SQS's own (standard queues), so a delayed check costs no waiting anywhere.
    await Promise.all(
      jobs.map((job) =>
        this.sqs.send(
          new SendMessageCommand({
            QueueUrl: this.queueUrl,
            MessageBody: JSON.stringify(job),
            ...(options.delaySeconds ? { DelaySeconds: options.delaySeconds } : {}),
          }),
        ),
      ),
    );
  }
}
