/**
 * Fakes of the browser's tab-coordination APIs, shared by several simulated tabs of one browser:
 * Web Locks (exclusive, queued, released when the holder's callback settles or its tab dies) and
 * BroadcastChannel (delivers asynchronously to every other open channel of the same name).
 */
import type { ChannelConstructor, ChannelLike, LockManagerLike } from '../../widget/src/tabs';

interface Request {
  tab: string;
  grant: () => void;
  abort: () => void;
}

export class FakeBrowser {
  private readonly held = new Map<string, { tab: string; release: () => void }>();
  private readonly queues = new Map<string, Request[]>();
  private readonly channels = new Set<{ tab: string; name: string; channel: FakeChannel }>();
  readonly dead = new Set<string>();

  locksFor(tab: string): LockManagerLike {
    return {
      request: (name, options, callback) =>
        new Promise((resolve, reject) => {
          const request: Request = {
            tab,
            grant: () => {
              let released = false;
              const release = () => {
                if (released) return;
                released = true;
                if (this.held.get(name)?.tab === tab) this.held.delete(name);
                this.next(name);
              };
              this.held.set(name, { tab, release });
              callback({ name }).then(
                () => {
                  release();
                  resolve(undefined);
                },
                (error) => {
                  release();
                  reject(error);
                },
              );
            },
            abort: () => reject(new DOMException('aborted', 'AbortError')),
          };
          options.signal?.addEventListener('abort', () => {
            const queue = this.queues.get(name) ?? [];
            const at = queue.indexOf(request);
            if (at >= 0) {
              queue.splice(at, 1);
              request.abort();
            }
          });
          const queue = this.queues.get(name) ?? [];
          queue.push(request);
          this.queues.set(name, queue);
          if (!this.held.has(name)) this.next(name);
        }),
    };
  }

  channelFor(tab: string): ChannelConstructor {
    const browser = this;
    return class implements ChannelLike {
      onmessage: ((event: { data: unknown }) => void) | null = null;
      private readonly entry: { tab: string; name: string; channel: FakeChannel };
      constructor(readonly name: string) {
        this.entry = { tab, name, channel: this };
        browser.channels.add(this.entry);
      }
      postMessage(message: unknown) {
        const data = structuredClone(message);
        for (const other of browser.channels) {
          if (other.channel === this || other.name !== this.name || browser.dead.has(other.tab)) continue;
          queueMicrotask(() => other.channel.onmessage?.({ data }));
        }
      }
      close() {
        browser.channels.delete(this.entry);
      }
    };
  }

  /** The tab's process dies: its locks are released, its channels stop, nothing runs its cleanup. */
  crash(tab: string) {
    this.dead.add(tab);
    for (const entry of [...this.channels]) if (entry.tab === tab) this.channels.delete(entry);
    for (const [name, queue] of this.queues)
      this.queues.set(
        name,
        queue.filter((r) => r.tab !== tab),
      );
    for (const { tab: holder, release } of [...this.held.values()]) if (holder === tab) release();
  }

  holder(name: string) {
    return this.held.get(name)?.tab;
  }

  private next(name: string) {
    if (this.held.has(name)) return;
    const request = this.queues.get(name)?.shift();
    request?.grant();
  }
}

type FakeChannel = ChannelLike;

/** An in-memory Storage shared by the simulated tabs (localStorage is per origin, not per tab). */
export class MemoryStorage implements Storage {
  private readonly map = new Map<string, string>();
  get length() {
    return this.map.size;
  }
  clear() {
    this.map.clear();
  }
  getItem(key: string) {
    return this.map.get(key) ?? null;
  }
  key(index: number) {
    return [...this.map.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.map.delete(key);
  }
  setItem(key: string, value: string) {
    this.map.set(key, value);
  }
}
