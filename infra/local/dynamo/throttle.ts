/**
 * DynamoDB's per-partition ceiling: each partition serves at most 3,000 read units and 1,000 write units a
 * second, in on-demand and provisioned mode alike, and throttles past that ("Best practices for designing
 * and using partition keys effectively"; "Key range throughput exceeded"). Modelled as one token bucket per
 * partition key holding one second of capacity: a request is refused while its key's bucket is empty, and
 * pays for what it consumed afterwards (the bucket may go into debt, as a single large read can).
 */
import { usageKey } from './tally';

export interface ThroughputLimits {
  /** Read units a second per partition key (3,000 on AWS). */
  readPerSecond: number;
  /** Write units a second per partition key (1,000 on AWS). */
  writePerSecond: number;
}

export const AWS_PARTITION_LIMITS: ThroughputLimits = { readPerSecond: 3000, writePerSecond: 1000 };

interface Bucket {
  tokens: number;
  at: number;
}

export interface PartitionRef {
  table: string;
  index: string | undefined;
  partition: string;
}

export class PartitionThrottle {
  private readonly read = new Map<string, Bucket>();
  private readonly write = new Map<string, Bucket>();

  constructor(
    readonly limits: ThroughputLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while the key still has capacity of that kind this second. */
  admits(kind: 'read' | 'write', ref: PartitionRef): boolean {
    return this.bucket(kind, usageKey(ref)).tokens > 0;
  }

  charge(kind: 'read' | 'write', ref: PartitionRef, units: number): void {
    if (units <= 0) return;
    this.bucket(kind, usageKey(ref)).tokens -= units;
  }

  private bucket(kind: 'read' | 'write', key: string): Bucket {
    const rate = kind === 'read' ? this.limits.readPerSecond : this.limits.writePerSecond;
    const buckets = kind === 'read' ? this.read : this.write;
    const now = this.now();
    const bucket = buckets.get(key) ?? { tokens: rate, at: now };
    bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    buckets.set(key, bucket);
    return bucket;
  }
}
