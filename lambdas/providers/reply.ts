import type { IngestReport, ProviderReply } from './port';

/**
 * 200 with what Callbridge did, for providers that only look at the status: ids, states and counts, never
 * a number or a name.
 */
export const jsonReply = (report: IngestReport): ProviderReply => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: JSON.stringify(
    report.kind === 'ignored'
      ? { status: 'ignored', reason: report.reason }
      : { ...report.result, ...(report.duplicate ? { duplicate: true } : {}) },
  ),
});
