/**
 * What the front knows of each table: its key schema, its global secondary indexes and billing mode,
 * read once with DescribeTable and forgotten when the table is deleted or updated.
 */
import type { Backend } from './backend';
import { type AttributeValue, type Item, isRecord, scalarText } from './protocol';

export interface KeyShape {
  hash: string;
  range: string | undefined;
}

export interface IndexShape extends KeyShape {
  name: string;
  /** ALL, KEYS_ONLY or INCLUDE, with the non-key attributes INCLUDE projects. */
  projection: { type: string; nonKey: string[] };
}

export interface TableShape extends KeyShape {
  name: string;
  globalIndexes: IndexShape[];
  onDemand: boolean;
}

const keyShape = (schema: unknown): KeyShape => {
  const elements = Array.isArray(schema) ? schema.filter(isRecord) : [];
  const hash = elements.find((e) => e.KeyType === 'HASH')?.AttributeName;
  const range = elements.find((e) => e.KeyType === 'RANGE')?.AttributeName;
  return { hash: String(hash), range: typeof range === 'string' ? range : undefined };
};

export const parseTableShape = (description: Record<string, unknown>): TableShape => {
  const indexes = Array.isArray(description.GlobalSecondaryIndexes)
    ? description.GlobalSecondaryIndexes.filter(isRecord)
    : [];
  const billing = isRecord(description.BillingModeSummary)
    ? description.BillingModeSummary.BillingMode
    : undefined;
  return {
    name: String(description.TableName),
    ...keyShape(description.KeySchema),
    onDemand: billing === 'PAY_PER_REQUEST',
    globalIndexes: indexes.map((index) => {
      const projection = isRecord(index.Projection) ? index.Projection : {};
      return {
        name: String(index.IndexName),
        ...keyShape(index.KeySchema),
        projection: {
          type: String(projection.ProjectionType ?? 'ALL'),
          nonKey: Array.isArray(projection.NonKeyAttributes) ? projection.NonKeyAttributes.map(String) : [],
        },
      };
    }),
  };
};

export class Catalog {
  private readonly shapes = new Map<string, Promise<TableShape | undefined>>();

  constructor(private readonly backend: Backend) {}

  /** The table's shape, or undefined when it does not exist (the forwarded call then answers as dynalite does). */
  get(table: string): Promise<TableShape | undefined> {
    let shape = this.shapes.get(table);
    if (!shape) {
      shape = this.backend.send('DescribeTable', { TableName: table }).then((reply) => {
        if (reply.status !== 200 || !isRecord(reply.body.Table)) {
          this.shapes.delete(table);
          return undefined;
        }
        return parseTableShape(reply.body.Table);
      });
      this.shapes.set(table, shape);
    }
    return shape;
  }

  forget(table: string): void {
    this.shapes.delete(table);
  }
}

/** The primary key attributes of an item (or of a Key map). */
export const primaryKey = (shape: KeyShape, item: Item): Item => {
  const key: Item = {};
  const hash = item[shape.hash];
  if (hash) key[shape.hash] = hash;
  if (shape.range) {
    const range = item[shape.range];
    if (range) key[shape.range] = range;
  }
  return key;
};

/** A stable text form of a key, for locks and tallies. */
export const keyText = (shape: KeyShape, key: Item): string =>
  JSON.stringify([valueText(key[shape.hash]), shape.range ? valueText(key[shape.range]) : null]);

const valueText = (value: AttributeValue | undefined) => (value ? JSON.stringify(value) : null);

/** The partition key value of an item in a table or an index, as text; undefined when the item lacks it. */
export const partitionText = (shape: KeyShape, item: Item | undefined): string | undefined =>
  item ? scalarText(item[shape.hash]) : undefined;

/** An item belongs to a GSI only when it carries every key attribute of that index (a sparse index). */
export const inIndex = (index: IndexShape, item: Item | undefined): item is Item =>
  !!item && item[index.hash] !== undefined && (!index.range || item[index.range] !== undefined);

/** The index entry DynamoDB keeps for an item: index keys, table keys and the projected attributes. */
export const indexEntry = (table: TableShape, index: IndexShape, item: Item): Item => {
  if (index.projection.type === 'ALL') return item;
  const names = new Set([table.hash, table.range, index.hash, index.range]);
  if (index.projection.type === 'INCLUDE') for (const name of index.projection.nonKey) names.add(name);
  const entry: Item = {};
  for (const name of names) {
    if (!name) continue;
    const value = item[name];
    if (value) entry[name] = value;
  }
  return entry;
};
