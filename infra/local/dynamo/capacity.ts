/**
 * Capacity units as DynamoDB charges them ("DynamoDB read and write operations", Developer Guide):
 * reads in 4 KB units (eventually consistent = half, transactional = double), writes in 1 KB units
 * (transactional = double), a missing item still costs one unit, a Query or Scan sums its items before
 * rounding, and a write costs the larger of the item before and after. A global secondary index is
 * charged for its own entry writes ("Provisioned throughput considerations for GSIs"): one write to add or
 * remove an entry, two when the index key changes, one when only projected attributes change, none when
 * the entry is absent before and after (or unchanged).
 */
import { itemBytes } from './item-size';
import type { Item } from './protocol';
import { type IndexShape, indexEntry, inIndex, partitionText, type TableShape } from './schema';

export type ReadMode = 'eventual' | 'strong' | 'transactional';

const READ_FACTOR: Record<ReadMode, number> = { eventual: 0.5, strong: 1, transactional: 2 };

export const readUnits = (bytes: number, mode: ReadMode): number =>
  Math.ceil(Math.max(bytes, 1) / 4096) * READ_FACTOR[mode];

export const writeUnits = (bytes: number, transactional = false): number =>
  Math.ceil(Math.max(bytes, 1) / 1024) * (transactional ? 2 : 1);

/** One charge against one partition key of a table or an index. */
export interface Charge {
  table: string;
  index: string | undefined;
  partition: string;
  rcu: number;
  wcu: number;
}

/** The table and index charges of one item going from `before` to `after` (undefined = absent). */
export const writeCharges = (
  table: TableShape,
  before: Item | undefined,
  after: Item | undefined,
  transactional = false,
): Charge[] => {
  const partition = partitionText(table, after ?? before) ?? '';
  const charges: Charge[] = [
    {
      table: table.name,
      index: undefined,
      partition,
      rcu: 0,
      wcu: writeUnits(Math.max(itemBytes(before), itemBytes(after)), transactional),
    },
  ];
  for (const index of table.globalIndexes)
    charges.push(...indexCharges(table, index, before, after, transactional));
  return charges;
};

const indexCharges = (
  table: TableShape,
  index: IndexShape,
  before: Item | undefined,
  after: Item | undefined,
  transactional: boolean,
): Charge[] => {
  const old = inIndex(index, before) ? indexEntry(table, index, before) : undefined;
  const next = inIndex(index, after) ? indexEntry(table, index, after) : undefined;
  const charge = (entry: Item, bytes: number): Charge => ({
    table: table.name,
    index: index.name,
    partition: partitionText(index, entry) ?? '',
    rcu: 0,
    wcu: writeUnits(bytes, transactional),
  });
  if (!old && !next) return [];
  if (old && !next) return [charge(old, itemBytes(old))];
  if (!old && next) return [charge(next, itemBytes(next))];
  if (!old || !next) return [];
  const keyChanged =
    JSON.stringify([old[index.hash], index.range ? old[index.range] : null]) !==
    JSON.stringify([next[index.hash], index.range ? next[index.range] : null]);
  if (keyChanged) return [charge(old, itemBytes(old)), charge(next, itemBytes(next))];
  if (sameEntry(old, next)) return [];
  return [charge(next, Math.max(itemBytes(old), itemBytes(next)))];
};

const sameEntry = (a: Item, b: Item) => {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const name of names) if (JSON.stringify(a[name]) !== JSON.stringify(b[name])) return false;
  return true;
};

/** DynamoDB's ConsumedCapacity shape for one table, for TOTAL or INDEXES. */
export const consumedCapacity = (
  tableName: string,
  charges: readonly Charge[],
  level: 'TOTAL' | 'INDEXES',
): Record<string, unknown> => {
  const sum = (list: readonly Charge[]) => ({
    CapacityUnits: list.reduce((s, c) => s + c.rcu + c.wcu, 0),
    ReadCapacityUnits: list.reduce((s, c) => s + c.rcu, 0),
    WriteCapacityUnits: list.reduce((s, c) => s + c.wcu, 0),
  });
  const mine = charges.filter((c) => c.table === tableName);
  const out: Record<string, unknown> = { TableName: tableName, ...trim(sum(mine)) };
  if (level === 'INDEXES') {
    out.Table = trim(sum(mine.filter((c) => c.index === undefined)));
    const names = [...new Set(mine.flatMap((c) => (c.index ? [c.index] : [])))];
    if (names.length > 0) {
      out.GlobalSecondaryIndexes = Object.fromEntries(
        names.map((name) => [name, trim(sum(mine.filter((c) => c.index === name)))]),
      );
    }
  }
  return out;
};

/** DynamoDB leaves out the read or write figure an operation does not use. */
const trim = (units: { CapacityUnits: number; ReadCapacityUnits: number; WriteCapacityUnits: number }) => {
  const out: Record<string, number> = { CapacityUnits: units.CapacityUnits };
  if (units.ReadCapacityUnits > 0) out.ReadCapacityUnits = units.ReadCapacityUnits;
  if (units.WriteCapacityUnits > 0) out.WriteCapacityUnits = units.WriteCapacityUnits;
  return out;
};
