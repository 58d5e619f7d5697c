/**
 * Every unit of capacity the front charged, per request and per partition key, so a test or the bench can
 * say "this webhook cost N RCU on its busiest key". A key is a table (or `table/index/name`) plus the
 * partition key value; DynamoDB's per-partition limits apply to exactly that.
 */
import type { Charge } from './capacity';

export interface RequestRecord {
  seq: number;
  operation: string;
  accessKeyId: string | undefined;
  charges: Charge[];
  at: number;
}

export interface KeyUsage {
  /** `table|pk` or `table/index/name|pk`. */
  key: string;
  table: string;
  index: string | undefined;
  partition: string;
  rcu: number;
  wcu: number;
  requests: number;
}

export interface CapacitySummary {
  requests: number;
  rcu: number;
  wcu: number;
  keys: KeyUsage[];
  /** The key that consumed the most read units (undefined when nothing was read). */
  busiestRead: KeyUsage | undefined;
  /** The key that consumed the most write units (undefined when nothing was written). */
  busiestWrite: KeyUsage | undefined;
}

export const usageKey = (c: { table: string; index: string | undefined; partition: string }) =>
  `${c.index ? `${c.table}/index/${c.index}` : c.table}|${c.partition}`;

export class CapacityTally {
  private readonly log: RequestRecord[] = [];
  private seq = 0;

  record(operation: string, accessKeyId: string | undefined, charges: Charge[]): void {
    this.log.push({ seq: ++this.seq, operation, accessKeyId, charges, at: Date.now() });
  }

  /** A bookmark: `summary(mark)` then covers only what came after it. */
  mark(): number {
    return this.seq;
  }

  records(since = 0): RequestRecord[] {
    return this.log.filter((r) => r.seq > since);
  }

  reset(): void {
    this.log.length = 0;
  }

  summary(since = 0): CapacitySummary {
    const records = this.records(since);
    const byKey = new Map<string, KeyUsage>();
    for (const record of records) {
      const seen = new Set<string>();
      for (const charge of record.charges) {
        const key = usageKey(charge);
        const usage = byKey.get(key) ?? {
          key,
          table: charge.table,
          index: charge.index,
          partition: charge.partition,
          rcu: 0,
          wcu: 0,
          requests: 0,
        };
        usage.rcu += charge.rcu;
        usage.wcu += charge.wcu;
        if (!seen.has(key)) usage.requests++;
        seen.add(key);
        byKey.set(key, usage);
      }
    }
    const keys = [...byKey.values()];
    const top = (field: 'rcu' | 'wcu') =>
      keys.filter((k) => k[field] > 0).sort((a, b) => b[field] - a[field] || a.key.localeCompare(b.key))[0];
    return {
      requests: records.length,
      rcu: keys.reduce((s, k) => s + k.rcu, 0),
      wcu: keys.reduce((s, k) => s + k.wcu, 0),
      keys,
      busiestRead: top('rcu'),
      busiestWrite: top('wcu'),
    };
  }

  busiestKey(since = 0): { read: KeyUsage | undefined; write: KeyUsage | undefined } {
    const { busiestRead, busiestWrite } = this.summary(since);
    return { read: busiestRead, write: busiestWrite };
  }
}
