/**
 * The on-disk outbox: every call event is a file here before anything tries to send it, and stays until
 * Callbridge has answered 2xx. A file is written under a temporary name, fsynced, renamed into place and the
 * directory fsynced, so after a power cut or `kill -9` an entry is either wholly there or not there at all.
 * Names carry a sequence number, so the order events were produced in survives a restart.
 *
 * An event Callbridge refuses for good (a 4xx other than the retryable ones) is moved to `dead/` with the
 * reason, for a person to look at; it is not retried forever and does not block the events after it.
 */
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';

export interface OutboxItem {
  /** The webhook-id: stable across retries and restarts. */
  id: string;
  /** Ordering key (the call); entries of one key are delivered in sequence order. */
  key: string;
  /** The exact JSON body to sign and send. */
  body: string;
}

export interface OutboxEntry extends OutboxItem {
  seq: number;
  enqueuedAt: number;
  file: string;
}

const EntrySchema = v.object({
  seq: v.pipe(v.number(), v.integer(), v.minValue(0)),
  id: v.pipe(v.string(), v.minLength(1)),
  key: v.pipe(v.string(), v.minLength(1)),
  body: v.string(),
  enqueuedAt: v.number(),
});

const NAME = /^(\d{12})\.json$/;

/** Make a rename or unlink durable: fsync the directory that holds the entry. */
const syncDir = async (dir: string) => {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Write a file so that it is either complete or absent after a crash. */
export const writeAtomically = async (dir: string, name: string, data: string, syncDirectory = true) => {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, name));
  if (syncDirectory) await syncDir(dir);
};

export class Outbox {
  private readonly entries = new Map<number, OutboxEntry>();
  /** Per call, its waiting entries in sequence order: the delivery loop only ever needs the heads. */
  private readonly queues = new Map<string, OutboxEntry[]>();
  private readonly ids = new Set<string>();
  private nextSeq = 0;
  private deadLetters = 0;

  private constructor(
    private readonly dir: string,
    private readonly deadDir: string,
    private readonly now: () => number,
  ) {}

  /** Open (creating if needed) the outbox under `dataDir`, loading whatever a previous run left. */
  static async open(dataDir: string, now: () => number = Date.now): Promise<Outbox> {
    const dir = join(dataDir, 'outbox');
    const deadDir = join(dataDir, 'dead');
    await mkdir(dir, { recursive: true });
    await mkdir(deadDir, { recursive: true });
    const outbox = new Outbox(dir, deadDir, now);
    await outbox.load();
    return outbox;
  }

  private async load() {
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.tmp')) {
        // A write that never reached its rename: the event was never acknowledged to anyone.
        await rm(join(this.dir, name), { force: true });
        continue;
      }
      const match = NAME.exec(name);
      if (!match) continue;
      const parsed = v.safeParse(EntrySchema, safeJson(await readFile(join(this.dir, name), 'utf8')));
      if (!parsed.success || parsed.output.seq !== Number(match[1])) {
        await rename(join(this.dir, name), join(this.deadDir, `${name}.unreadable`));
        this.deadLetters++;
        continue;
      }
      this.track({ ...parsed.output, file: name });
    }
    // readdir order is not sequence order.
    for (const queue of this.queues.values()) queue.sort((a, b) => a.seq - b.seq);
    this.deadLetters += (await readdir(this.deadDir)).filter((n) => n.endsWith('.json')).length;
  }

  private track(entry: OutboxEntry) {
    this.entries.set(entry.seq, entry);
    this.ids.add(entry.id);
    const queue = this.queues.get(entry.key);
    if (queue) queue.push(entry);
    else this.queues.set(entry.key, [entry]);
    this.nextSeq = Math.max(this.nextSeq, entry.seq + 1);
  }

  /** Whether an event with this webhook-id is waiting here (a re-emitted fact is then not stored twice). */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Store events durably, in order; resolves once they are on disk. Ids already waiting are skipped. */
  async append(items: readonly OutboxItem[]): Promise<OutboxEntry[]> {
    const added: OutboxEntry[] = [];
    for (const item of items) {
      if (this.ids.has(item.id)) continue;
      const seq = this.nextSeq++;
      const file = `${String(seq).padStart(12, '0')}.json`;
      const entry: OutboxEntry = { ...item, seq, enqueuedAt: this.now(), file };
      const { file: _file, ...stored } = entry;
      await writeAtomically(this.dir, file, JSON.stringify(stored), false);
      this.ids.add(item.id);
      added.push(entry);
    }
    if (added.length > 0) await syncDir(this.dir);
    for (const entry of added) this.track(entry);
    return added;
  }

  /** The oldest waiting entry of each call. */
  heads(): OutboxEntry[] {
    const heads: OutboxEntry[] = [];
    for (const queue of this.queues.values()) if (queue[0]) heads.push(queue[0]);
    return heads;
  }

  /** Entries waiting, oldest first. */
  pending(): OutboxEntry[] {
    return [...this.entries.values()].sort((a, b) => a.seq - b.seq);
  }

  get depth(): number {
    return this.entries.size;
  }

  get deadCount(): number {
    return this.deadLetters;
  }

  oldestEnqueuedAt(): number | undefined {
    let oldest: number | undefined;
    for (const entry of this.entries.values())
      oldest = Math.min(oldest ?? entry.enqueuedAt, entry.enqueuedAt);
    return oldest;
  }

  /** Callbridge has it: forget the entry for good. */
  async remove(entry: OutboxEntry): Promise<void> {
    await rm(join(this.dir, entry.file), { force: true });
    await syncDir(this.dir);
    this.entries.delete(entry.seq);
    this.ids.delete(entry.id);
    const queue = this.queues.get(entry.key);
    if (queue) {
      const rest = queue.filter((e) => e !== entry);
      if (rest.length > 0) this.queues.set(entry.key, rest);
      else this.queues.delete(entry.key);
    }
  }

  /** Callbridge refused it for good: keep it beside the reason in dead/, out of the queue. */
  async deadLetter(entry: OutboxEntry, reason: { status?: number; detail: string }): Promise<void> {
    const { file, ...stored } = entry;
    await writeFile(
      join(this.deadDir, `${file}.reason`),
      JSON.stringify({ ...reason, at: new Date(this.now()).toISOString() }),
    );
    await writeAtomically(this.deadDir, file, JSON.stringify(stored));
    await this.remove(entry);
    this.deadLetters++;
  }
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
