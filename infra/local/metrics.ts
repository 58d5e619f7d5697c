import type { Metrics } from '../../lambdas/ports';

export interface CountingMetrics extends Metrics {
  readonly counts: { pushFailures: number };
}

/** The local stand-in for CloudWatch metrics: counts, so tests can see what would reach an alarm. */
export const countingMetrics = (): CountingMetrics => {
  const counts = { pushFailures: 0 };
  return {
    counts,
    pushFailures: (count) => {
      counts.pushFailures += count;
    },
  };
};
