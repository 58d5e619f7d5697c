/**
 * The outbox and its delivery loop on their own: what survives a crash, the order per call, retries with the
 * same webhook-id, refused events set aside, and the HTTP classification of Callbridge's answers.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Delivery } from '../../bridge/asterisk/delivery';
import { Outbox, type OutboxEntry } from '../../bridge/asterisk/outbox';
import { makeSender, type SendResult } from '../../bridge/asterisk/sender';
import { verifySignature } from '../../lambdas/core/webhook-signature';
import { captureLogger, dataDir, removeDataDirs } from './harness';
import { ManualScheduler } from './manual-scheduler';

const items = (key: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ id: `${key}.${from + i}`, key, body: `{"n":${from + i}}` }));

afterAll(() => removeDataDirs());

describe('outbox on disk', () => {
  it('keeps entries, in order, across a reopen (a restart), and ignores an id already waiting', async () => {
    const dir = dataDir();
    const first = await Outbox.open(dir);
    await first.append([...items('a', 2), ...items('b', 1)]);
    await first.append(items('a', 1, 2));
    expect(await first.append(items('a', 1))).toEqual([]);
    // A write that died before its rename leaves a temp file: it is not an entry.
    writeFileSync(join(dir, 'outbox', '.000000000099.json.1.tmp'), '{"seq":99');
    const reopened = await Outbox.open(dir);
    expect(reopened.pending().map((e) => e.id)).toEqual(['a.0', 'a.1', 'b.0', 'a.2']);
    expect(readdirSync(join(dir, 'outbox')).some((f) => f.endsWith('.tmp'))).toBe(false);
    const [next] = await reopened.append(items('c', 1));
    expect(next?.seq).toBe(4);
  });

  it('moves an unreadable entry to dead/ instead of failing to start', async () => {
    const dir = dataDir();
    mkdirSync(join(dir, 'outbox'), { recursive: true });
    writeFileSync(join(dir, 'outbox', '000000000007.json'), 'not json');
    const outbox = await Outbox.open(dir);
    expect(outbox.depth).toBe(0);
    expect(outbox.deadCount).toBe(1);
    expect(readdirSync(join(dir, 'dead'))).toContain('000000000007.json.unreadable');
  });
});

const run = async (
  outbox: Outbox,
  script: (entry: OutboxEntry, attempt: number) => SendResult,
  scheduler = new ManualScheduler(0),
) => {
  const log: { id: string; result: SendResult['kind'] }[] = [];
  const attempts = new Map<string, number>();
  const { logger, lines } = captureLogger();
  const delivery = new Delivery({
    outbox,
    scheduler,
    logger,
    retryBaseMs: 1000,
    retryMaxMs: 8000,
    concurrency: 3,
    random: () => 0.5,
    send: async (entry) => {
      const n = (attempts.get(entry.id) ?? 0) + 1;
      attempts.set(entry.id, n);
      const result = script(entry, n);
      log.push({ id: entry.id, result: result.kind });
      return result;
    },
  });
  delivery.kick();
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    while (delivery.inFlightCount > 0) await new Promise((r) => setTimeout(r, 1));
  };
  await settle();
  for (let i = 0; i < 200 && outbox.depth > 0; i++) await scheduler.advance(1000, settle);
  delivery.stop();
  return { log, lines, delivery };
};

describe('delivery', () => {
  it('sets a refused event aside in dead/ and goes on with the next event of the same call', async () => {
    const dir = dataDir();
    const outbox = await Outbox.open(dir);
    await outbox.append(items('call', 3));
    const { log, lines } = await run(outbox, (entry) =>
      entry.id === 'call.1'
        ? { kind: 'rejected', status: 400, detail: 'invalid_body: call.from: expected a phone number' }
        : { kind: 'delivered', status: 202 },
    );
    expect(log).toEqual([
      { id: 'call.0', result: 'delivered' },
      { id: 'call.1', result: 'rejected' },
      { id: 'call.2', result: 'delivered' },
    ]);
    expect(outbox.depth).toBe(0);
    const dead = readdirSync(join(dir, 'dead'));
    expect(dead).toEqual(expect.arrayContaining(['000000000001.json', '000000000001.json.reason']));
    expect(JSON.parse(readFileSync(join(dir, 'dead', '000000000001.json.reason'), 'utf8'))).toMatchObject({
      status: 400,
    });
    expect(lines.some((l) => l.level === 'error' && l.fields.webhookId === 'call.1')).toBe(true);
  });

  it('property: whatever fails and when, each event is delivered once, in order within its call', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 1, max: 3 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.array(fc.constantFrom<SendResult['kind']>('delivered', 'retry', 'retry', 'rejected'), {
          minLength: 1,
          maxLength: 40,
        }),
        async (batches, outcomes) => {
          const outbox = await Outbox.open(dataDir());
          const counters: Record<string, number> = {};
          for (const [key, n] of batches) {
            await outbox.append(items(key, n, counters[key] ?? 0));
            counters[key] = (counters[key] ?? 0) + n;
          }
          const order = outbox.pending().map((e) => e.id);
          let i = 0;
          // A scripted run of failures; after the script, Callbridge is healthy.
          const { log } = await run(outbox, () => {
            const kind = outcomes[i++] ?? 'delivered';
            return kind === 'delivered'
              ? { kind, status: 202 }
              : kind === 'retry'
                ? { kind, reason: 'HTTP 503' }
                : { kind, status: 400, detail: 'x' };
          });
          expect(outbox.depth).toBe(0);
          const finished = log.filter((l) => l.result !== 'retry').map((l) => l.id);
          // Every event finished exactly once (delivered or set aside), none lost, none twice.
          expect([...finished].sort()).toEqual([...order].sort());
          // Within a call, events finished in the order they were produced.
          for (const key of Object.keys(counters)) {
            const mine = finished.filter((id) => id.startsWith(`${key}.`));
            expect(mine).toEqual(order.filter((id) => id.startsWith(`${key}.`)));
          }
          // An event is never attempted while an earlier one of its call is unfinished.
          const done = new Set<string>();
          for (const attempt of log) {
            const earlier = order
              .slice(0, order.indexOf(attempt.id))
              .filter((id) => id.split('.')[0] === attempt.id.split('.')[0]);
            for (const id of earlier) expect(done.has(id)).toBe(true);
            if (attempt.result !== 'retry') done.add(attempt.id);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('sender', () => {
  const serve = async (
    answer: (req: { headers: Record<string, string | string[] | undefined>; body: string }) => {
      status: number;
      body?: string;
      headers?: Record<string, string>;
    },
  ) => {
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const reply = answer({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      res
        .writeHead(reply.status, { 'content-type': 'application/problem+json', ...reply.headers })
        .end(reply.body ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/acme`,
      close: () => server.close(),
    };
  };
  const secret = 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3';
  const entry: OutboxEntry = {
    seq: 0,
    id: 'ami.1.ringing',
    key: '1',
    body: '{"x":1}',
    enqueuedAt: 0,
    file: 'f',
  };

  it('signs per Standard Webhooks with the stored id and a fresh timestamp', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    let body = '';
    const server = await serve((req) => {
      seen = req.headers;
      body = req.body;
      return { status: 202, body: '{}' };
    });
    try {
      expect(await makeSender({ url: server.url, secret, timeoutMs: 2000 })(entry)).toEqual({
        kind: 'delivered',
        status: 202,
      });
      expect(seen['webhook-id']).toBe('ami.1.ringing');
      expect(() =>
        verifySignature(
          body,
          {
            id: String(seen['webhook-id']),
            timestamp: String(seen['webhook-timestamp']),
            signature: String(seen['webhook-signature']),
          },
          [secret],
          Math.floor(Date.now() / 1000),
        ),
      ).not.toThrow();
    } finally {
      server.close();
    }
  });

  it('sorts answers: 5xx/409/429 and network errors retry, other 4xx are refused for good', async () => {
    const cases: [number, SendResult['kind']][] = [
      [500, 'retry'],
      [503, 'retry'],
      [409, 'retry'],
      [429, 'retry'],
      [400, 'rejected'],
      [401, 'rejected'],
      [404, 'rejected'],
      [413, 'rejected'],
    ];
    for (const [status, kind] of cases) {
      const server = await serve(() => ({
        status,
        body: JSON.stringify({ code: 'some_code', detail: 'field: rule' }),
        headers: status === 429 ? { 'retry-after': '7' } : ({} as Record<string, string>),
      }));
      try {
        const result = await makeSender({ url: server.url, secret, timeoutMs: 2000 })(entry);
        expect(result.kind, `HTTP ${status}`).toBe(kind);
        if (status === 429) expect(result).toMatchObject({ retryAfterMs: 7000 });
        if (kind === 'rejected') expect(result).toMatchObject({ detail: 'some_code: field: rule' });
      } finally {
        server.close();
      }
    }
    const refused = await makeSender({ url: 'http://127.0.0.1:1/webhooks/acme', secret, timeoutMs: 500 })(
      entry,
    );
    expect(refused.kind).toBe('retry');
  });
});
