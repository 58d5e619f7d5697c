/**
 * The CRM worker's SQS edge: a batch of messages in, the ids of those to try again out (ReportBatchItemFailures),
 * so one failing call never makes the others of its batch repeat. A message that keeps failing goes to the
 * dead-letter queue after the trigger's maxReceives.
 */
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type CrmWorkerDeps, processCrmBatch } from '../usecases/crm-worker';

export const makeCrmWorkerHandler =
  (deps: CrmWorkerDeps) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const failed = await processCrmBatch(
      deps,
      event.Records.map((r) => ({
        id: r.messageId,
        body: r.body,
        receives: Number(r.attributes?.ApproximateReceiveCount ?? 1) || 1,
      })),
    );
    return { batchItemFailures: failed.map((itemIdentifier) => ({ itemIdentifier })) };
  };
