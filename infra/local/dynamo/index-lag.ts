/**
 * Global secondary indexes are eventually consistent on AWS: a write reaches the index some time after the
 * table acknowledged it, and an index Query meanwhile answers from the older state. dynalite updates its
 * indexes in the same step as the table, so the front keeps a shadow copy of every table that has GSIs,
 * serves index reads from the shadow's indexes, and copies each written key's CURRENT table state into the
 * shadow `lagMs` after the write. Copies of one key run in order, so the shadow converges to the table.
 */
import type { Backend } from './backend';
import { KeyLocks } from './key-locks';
import type { Item } from './protocol';
import { type Catalog, keyText, type TableShape } from './schema';

const SHADOW_PREFIX = 'dynamo-front.index-view.';

export const isShadowTable = (name: string) => name.startsWith(SHADOW_PREFIX);
export const shadowName = (table: string) => `${SHADOW_PREFIX}${table}`;

export class IndexLag {
  private readonly ready = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<void>>();
  private readonly order = new KeyLocks();
  private failure: unknown;

  constructor(
    private readonly backend: Backend,
    private readonly catalog: Catalog,
    readonly lagMs: number,
  ) {}

  applies(shape: TableShape | undefined): shape is TableShape {
    return this.lagMs > 0 && !!shape && shape.globalIndexes.length > 0 && !isShadowTable(shape.name);
  }

  /** Creates (once) the table's shadow with the same keys and indexes, filled with the table's items. */
  prepare(shape: TableShape): Promise<void> {
    let ready = this.ready.get(shape.name);
    if (!ready) {
      ready = this.createShadow(shape).catch((error: unknown) => {
        this.ready.delete(shape.name);
        throw error;
      });
      this.ready.set(shape.name, ready);
    }
    return ready;
  }

  /** Schedules the copy of each written key into the shadow, `lagMs` from now. */
  written(shape: TableShape, keys: readonly Item[]): void {
    if (!this.applies(shape) || keys.length === 0) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const copy = this.copy(shape, keys).catch((error: unknown) => {
        this.failure = error;
      });
      this.pending.add(copy);
      void copy.finally(() => this.pending.delete(copy));
    }, this.lagMs);
    this.timers.add(timer);
  }

  /** Drops the shadow with its table. */
  async dropped(table: string): Promise<void> {
    if (!this.ready.has(table)) return;
    this.ready.delete(table);
    await this.backend.send('DeleteTable', { TableName: shadowName(table) });
  }

  /** Resolves once every copy whose moment has come has landed in the shadow. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
    if (this.failure) throw this.failure;
  }

  /** Cancels copies not yet due and waits for those under way instead of waiting for its moment (for a clean stop). */
  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.flush();
  }

  private async copy(shape: TableShape, keys: readonly Item[]): Promise<void> {
    const shadow = shadowName(shape.name);
    await Promise.all(
      keys.map((key) =>
        this.order.with([`${shape.name}|${keyText(shape, key)}`], async () => {
          const current = await this.backend.getItem(shape.name, key);
          await this.backend.restore(shadow, key, current);
        }),
      ),
    );
  }

  private async createShadow(shape: TableShape): Promise<void> {
    const described = await this.backend.must('DescribeTable', { TableName: shape.name });
    const table = described.Table as Record<string, unknown>;
    const shadow = shadowName(shape.name);
    const exists = await this.backend.send('DescribeTable', { TableName: shadow });
    if (exists.status !== 200) {
      const indexes = (table.GlobalSecondaryIndexes as Record<string, unknown>[]).map((index) => ({
        IndexName: index.IndexName,
        KeySchema: index.KeySchema,
        Projection: index.Projection,
      }));
      await this.backend.must('CreateTable', {
        TableName: shadow,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: table.AttributeDefinitions,
        KeySchema: table.KeySchema,
        GlobalSecondaryIndexes: indexes,
      });
      for (let i = 0; ; i++) {
        const { Table } = await this.backend.must('DescribeTable', { TableName: shadow });
        if ((Table as { TableStatus?: string } | undefined)?.TableStatus === 'ACTIVE') break;
        if (i > 500) throw new Error(`dynamo front: shadow of ${shape.name} never became ACTIVE`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    // A table that already held items (a persisted local store) starts with its shadow in step.
    for (const item of await this.backend.scanAll(shape.name)) await this.backend.putItem(shadow, item);
    this.catalog.forget(shadow);
  }
}
