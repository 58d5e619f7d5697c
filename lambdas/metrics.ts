/**
 * Metrics in CloudWatch's Embedded Metric Format, written by Powertools: one log line that CloudWatch turns
 * into a metric, with no API call on the hot path. The CDK stack alarms on these names.
 */
import { MetricUnit, Metrics as PowertoolsMetrics } from '@aws-lambda-powertools/metrics';
import type { Metrics } from './ports';

export const PUSH_FAILURE_METRIC = {
  namespace: 'Callbridge',
  name: 'PushFailures',
  /** In five minutes: a handful of failing browsers is normal, a stream of them is API Gateway refusing us. */
  alarmThreshold: 5,
} as const;

/** @param service the function's manifest name; the alarm's `service` dimension. */
export const emfMetrics = (service: string): Metrics => {
  const metrics = new PowertoolsMetrics({ namespace: PUSH_FAILURE_METRIC.namespace, serviceName: service });
  return {
    pushFailures(count) {
      metrics.addMetric(PUSH_FAILURE_METRIC.name, MetricUnit.Count, count);
      // Published at once: a failure is rare and the handler may not reach a flush point.
      metrics.publishStoredMetrics();
    },
  };
};
