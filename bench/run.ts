import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { gzipSync } from 'node:zlib';
import { BatchWriteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import WebSocket from 'ws';
import { mintKommoToken } from '../infra/local/kommo-token';
import { LOCAL_TABLES, localDynamoClient, startDynalite } from '../infra/local/stack';
import { createTables } from '../infra/local/tables';
import { DynamoStateStore } from '../lambdas/adapters/dynamo-state';
import { parseOrExit } from '../scripts/cli';
import { widgetFiles } from '../widget/build';
import { CallbridgeSocket, SOCKET_DEFAULTS, type WebSocketConstructor } from '../widget/src/socket';
import { BASELINE_SECTIONS, compareWithBaseline, runBaseline } from './baseline';
import { bridgeBench } from './bridge';
import { type Audience, capacityAccount } from './capacity';
import { measureColdStarts } from './cold-start';
import { crmBench } from './crm';
import { closeAgents, startBenchStack } from './harness';
import { kommoBench } from './kommo';
import { type Distribution, distribution, pool, type Row, round } from './stats';

parseOrExit({
  usage: 'npm run bench   (configured by environment variables)',
  details: `  About 10 minutes on loopback; prints each figure and writes bench/results.json (npm run bench:report).
  BENCH_ONLY=section[,section]   run some sections only: latency, fanout, routing, throughput,
                                 cold-start, widget, bridge, kommo, capacity, crm
  BENCH_QUICK=1                  small sizes, for a smoke run
  BENCH_SECONDS=N                the throughput section's duration (60)
  BENCH_BASELINE=<git ref>       also run an earlier commit's bench for latency, fanout and throughput
                                 now, and compare (e.g. BENCH_BASELINE=55849b5)`,
  examples: ['npm run bench', 'BENCH_QUICK=1 BENCH_ONLY=widget npm run bench'],
  options: {},
});

const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY?.split(',');
const scale = (full: number, quick: number) => (QUICK ? quick : full);

const rows: Row[] = [];
const record = (row: Row) => {
  rows.push(row);
  const verdict = row.met === undefined ? '' : row.met ? '  ✓ met' : '  ✗ missed';
  console.log(
    `  ${row.metric.padEnd(58)} ${row.value.padEnd(34)} ${row.target ? `target ${row.target}` : ''}${verdict}`,
  );
};
const fmt = (d: Distribution, unit = 'ms') =>
  `p50 ${round(d.p50)} · p95 ${round(d.p95)} · p99 ${round(d.p99)} ${unit}`;

// --- 1. push latency ---
const pushLatency = async () => {
  console.log('\n1. Push latency: signed webhook sent → message in the targeted agent’s ws client');
  for (const agentsConnected of [1, 100, 1000].map((n) => scale(n, Math.min(n, 20)))) {
    const bench = await startBenchStack({ separateProcess: true });
    const agents = await bench.connectAgents(Array.from({ length: agentsConnected }, (_, i) => i + 1));
    const calls = scale(1000, 50);
    const samples: number[] = [];
    for (let i = 0; i < calls; i++) {
      const agent = agents[i % agents.length];
      if (!agent) continue;
      const id = `lat-${i}`;
      const arrived = new Promise<number>((resolve) => {
        agent.onMessage = (m, at) => {
          if (m.type === 'call' && m.view.call.id === id) resolve(at);
        };
      });
      const started = performance.now();
      const res = await bench.webhook(bench.event('call.ringing', id, [agent.userId]));
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
      samples.push((await arrived) - started);
    }
    const d = distribution(samples);
    const atTarget = agentsConnected >= 1000 || (QUICK && agentsConnected === Math.min(1000, 20));
    record({
      section: 'push-latency',
      metric: `${calls} calls, ${agentsConnected} agent(s) connected`,
      value: fmt(d),
      ...(atTarget ? { target: 'p50 ≤ 10, p99 ≤ 50 ms', met: d.p50 <= 10 && d.p99 <= 50 } : {}),
      data: { agentsConnected, ...d },
    });
    await closeAgents(agents);
    await bench.stop();
  }
};

// --- 2. ring-all fan-out ---
const fanout = async () => {
  console.log('\n2. Ring-all fan-out: one event to every agent of the account → the last socket has it');
  for (const n of [100, 1000].map((x) => scale(x, x / 10))) {
    const bench = await startBenchStack({ separateProcess: true });
    const agents = await bench.connectAgents(Array.from({ length: n }, (_, i) => i + 1));
    const runs: number[] = [];
    for (let r = 0; r < scale(10, 3); r++) {
      const id = `all-${r}`;
      let remaining = agents.length;
      let last = 0;
      const done = new Promise<void>((resolve) => {
        for (const agent of agents) {
          agent.onMessage = (m, at) => {
            if (m.type === 'call' && m.view.call.id === id) {
              last = Math.max(last, at);
              if (--remaining === 0) resolve();
            }
          };
        }
      });
      const started = performance.now();
      const res = await bench.webhook(bench.event('call.ringing', id));
      if (res.sockets !== n) throw new Error(`ring-all reached ${res.sockets} of ${n} sockets`);
      await done;
      runs.push(last - started);
    }
    const d = distribution(runs);
    record({
      section: 'fanout',
      metric: `${n} sockets (${runs.length} runs)`,
      value: fmt(d),
      ...(n >= scale(1000, 100) ? { target: '≤ 500 ms', met: d.p50 <= 500 } : {}),
      data: { sockets: n, ...d },
    });
    await closeAgents(agents);
    await bench.stop();
  }
};

// --- 3. routing cost versus table size ---
const routing = async () => {
  console.log(
    '\n3. Routing: recipients of one call among 100 and 100,000 stored connections of other accounts',
  );
  const results: Record<string, { ours: number; scan: number }> = {};
  for (const others of [100, scale(100_000, 5_000)]) {
    const db = await startDynalite();
    const client = localDynamoClient(db.endpoint);
    await createTables(client, LOCAL_TABLES);
    const store = new DynamoStateStore(client, {
      tableName: LOCAL_TABLES.state,
    });
    const now = Date.now();
    // A socket as the store keeps it: by id, and as an attribute of its user's CONNS item (what routing reads).
    const items = (account: string, user: number, id: string) => [
      {
        PutRequest: {
          Item: {
            pk: { S: `C#${id}` },
            sk: { S: 'C' },
            connectionId: { S: id },
            subdomain: { S: account },
            userId: { N: String(user) },
            connectedAt: { N: String(now) },
            expiresAt: { N: String(now + 7_200_000) },
          },
        },
      },
      {
        PutRequest: {
          Item: {
            pk: { S: `U#${account}#${user}` },
            sk: { S: 'CONNS' },
            [`c:${id}`]: {
              M: { connectedAt: { N: String(now) }, expiresAt: { N: String(now + 7_200_000) } },
            },
          },
        },
      },
    ];
    const batches: ReturnType<typeof items>[] = [];
    let batch: ReturnType<typeof items> = [];
    const add = (requests: ReturnType<typeof items>) => {
      batch.push(...requests);
      if (batch.length >= 24) {
        batches.push(batch);
        batch = [];
      }
    };
    for (let i = 0; i < others; i++) add(items(`other${i % 500}`, i, `o${i}`));
    for (let u = 1; u <= 10; u++) add(items('target', u, `t${u}`));
    if (batch.length > 0) batches.push(batch);
    const loadStarted = performance.now();
    await pool(batches, 8, async (requests) => {
      await client.send(new BatchWriteItemCommand({ RequestItems: { [LOCAL_TABLES.state]: requests } }));
    });
    const loadMs = performance.now() - loadStarted;

    const ours: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const found = await store.connectionsOf('target', [3, 7], now);
      ours.push(performance.now() - t);
      if (found.length !== 2) throw new Error(`lookup by key found ${found.length} connections`);
    }
    // The public AWS WebSocket samples: Scan the connections table and filter.
    const scans: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      let found = 0;
      let startKey: Record<string, import('@aws-sdk/client-dynamodb').AttributeValue> | undefined;
      do {
        const page = await client.send(
          new ScanCommand({
            TableName: LOCAL_TABLES.state,
            FilterExpression: 'subdomain = :s AND userId IN (:a, :b)',
            ExpressionAttributeValues: { ':s': { S: 'target' }, ':a': { N: '3' }, ':b': { N: '7' } },
            ExclusiveStartKey: startKey,
          }),
        );
        found += page.Items?.length ?? 0;
        startKey = page.LastEvaluatedKey;
      } while (startKey);
      scans.push(performance.now() - t);
      if (found !== 2) throw new Error(`scan found ${found} connections`);
    }
    const o = distribution(ours);
    const s = distribution(scans);
    results[others] = { ours: o.p50, scan: s.p50 };
    record({
      section: 'routing',
      metric: `${others.toLocaleString('en')} other connections (loaded in ${round(loadMs / 1000)} s)`,
      value: `by key p50 ${round(o.p50, 2)} · p99 ${round(o.p99, 2)} ms · scan p50 ${round(s.p50)} · p99 ${round(s.p99)} ms`,
      data: { others, index: o, scan: s },
    });
    client.destroy();
    await db.close();
  }
  const [small, large] = Object.values(results);
  if (small && large) {
    const ratio = large.ours / small.ours;
    record({
      section: 'routing',
      metric: 'growth, largest / smallest table: by key (ours) · scan (samples)',
      value: `${round(ratio, 2)}× · ${round(large.scan / small.scan, 1)}×`,
      target: 'by key ≤ 1.5×',
      met: ratio <= 1.5,
      data: { indexRatio: ratio, scanRatio: large.scan / small.scan },
    });
  }
};

// --- 4. throughput ---
const throughput = async () => {
  const seconds = Number(process.env.BENCH_SECONDS ?? scale(60, 5));
  console.log(`\n4. Throughput: webhooks accepted and delivered, ${seconds} s, closed loop on loopback`);
  const bench = await startBenchStack({ separateProcess: true });
  const agents = await bench.connectAgents(Array.from({ length: 100 }, (_, i) => i + 1));
  const expected = new Set<string>();
  const received = new Set<string>();
  for (const agent of agents) {
    agent.onMessage = (m) => {
      if (m.type === 'call') received.add(m.view.call.id);
    };
  }
  const latencies: number[] = [];
  let accepted = 0;
  let failed = 0;
  let sent = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < deadline) {
        const n = sent++;
        const id = `tp-${n}`;
        const user = (n % agents.length) + 1;
        const t = performance.now();
        const res = await bench.webhook(bench.event('call.ringing', id, [user]));
        latencies.push(performance.now() - t);
        if (res.status === 202 && res.sockets === 1) {
          accepted++;
          expected.add(id);
        } else failed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const drainUntil = performance.now() + 5000;
  while (received.size < expected.size && performance.now() < drainUntil)
    await new Promise((r) => setTimeout(r, 50));
  const lost = [...expected].filter((id) => !received.has(id)).length;
  const rate = accepted / elapsed;
  record({
    section: 'throughput',
    metric: `${accepted} accepted in ${round(elapsed)} s (32 in flight, 100 agents)`,
    value: `${round(rate)} /s · lost ${lost} · failed ${failed}`,
    target: '≥ 500/s, no loss',
    met: rate >= 500 && lost === 0 && failed === 0,
    data: { rate, accepted, lost, failed, seconds: elapsed, webhook: distribution(latencies) },
  });
  record({
    section: 'throughput',
    metric: 'webhook response time under that load',
    value: fmt(distribution(latencies)),
  });
  await closeAgents(agents);
  await bench.stop();
};

// --- 5. cold starts, as the rehearsal runs them ---
const coldStart = async () => {
  console.log(
    '\n5. Cold start: each synthesized bundle loaded by a fresh Lambda environment on Node 24 (INIT, median)',
  );
  const { baselineMs, functions } = await measureColdStarts(scale(10, 2));
  console.log(`  (an empty handler's INIT, the runtime's own share: ${round(baselineMs)} ms)`);
  for (const f of functions) {
    const name = f.logicalId.replace(/Fn[0-9A-F]+$/, '');
    record({
      section: 'cold-start',
      metric: `${name}: bundle ${round(f.bundleKb)} KB`,
      value: `INIT ${round(f.initP50Ms)} ms · bundle load ${round(f.loadP50Ms)} ms`,
      target: '≤ 400 KB, load ≤ 60 ms',
      met: f.bundleKb <= 400 && f.loadP50Ms <= 60,
      data: { ...f, baselineMs },
    });
  }
};

// --- 6. widget ---
const widget = async () => {
  console.log('\n6. Widget: script.js size, and reconnect time from a server-side close to a resumed socket');
  const files = await widgetFiles({ apiUrl: 'https://api.example.test' });
  const script = files['script.js'] ?? new Uint8Array();
  const rawKb = script.byteLength / 1024;
  const gzKb = gzipSync(script, { level: 9 }).byteLength / 1024;
  record({
    section: 'widget',
    metric: 'script.js raw · gzipped (readable, not minified)',
    value: `${round(rawKb)} KB · ${round(gzKb)} KB`,
    target: '≤ 40 KB · ≤ 12 KB',
    met: rawKb <= 40 && gzKb <= 12,
    data: { rawKb, gzKb },
  });

  const bench = await startBenchStack();
  const samples: number[] = [];
  let resumedAt = 0;
  const socket = new CallbridgeSocket({
    getUrl: async () => {
      const token = await mintKommoToken({
        subdomain: 'bench',
        clientSecret: bench.clientSecret,
        integrationId: 'int-bench',
        userId: 1,
      });
      const res = await fetch(`${bench.url}/tickets`, {
        method: 'POST',
        headers: { 'x-auth-token': token },
      });
      return ((await res.json()) as { url: string }).url;
    },
    onMessage: (m) => {
      if (m.type === 'snapshot') resumedAt = performance.now();
    },
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  socket.start();
  const waitFor = async (test: () => boolean) => {
    const until = performance.now() + 10_000;
    while (!test()) {
      if (performance.now() > until) throw new Error('socket did not resume within 10 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await waitFor(() => resumedAt > 0);
  // Drops are spaced past the client's minUptime (10 s): closer together, its flapping protection rightly lets
  // the backoff grow, and the figure would measure that instead of a reconnect.
  for (let i = 0; i < scale(10, 2); i++) {
    await new Promise((r) => setTimeout(r, QUICK ? 200 : SOCKET_DEFAULTS.minUptimeMs + 500));
    const before = resumedAt;
    const [id] = bench.stack?.gateway.connectionIds() ?? [];
    const dropped = performance.now();
    bench.stack?.gateway.dropConnection(id ?? '');
    await waitFor(() => resumedAt > before);
    samples.push(resumedAt - dropped);
  }
  socket.stop();
  const d = distribution(samples);
  record({
    section: 'widget',
    metric: `reconnect: server close → resumed (${samples.length} drops)`,
    value: fmt(d),
    target: 'p50 ≤ 1500 ms',
    met: d.p50 <= 1500,
    data: d,
  });
  await bench.stop();
};

// --- 8. DynamoDB capacity per busiest key ---
const capacity = async () => {
  console.log(
    '\n8. Capacity: DynamoDB units on the busiest partition key per webhook (32-character extensions, ≤ 1,000 sockets),\n' +
      '   and the webhooks/s per account the keys every webhook shares allow (3,000 RCU/s, 1,000 WCU/s a key)',
  );
  const label: Record<Audience, string> = {
    one: 'one agent',
    group: '10-agent group',
    'ring-all': 'ring-all',
  };
  for (const agents of new Set([100, 1000, 10_000].map((n) => scale(n, Math.min(n, 1000))))) {
    const account = await capacityAccount({ agents, extensionLength: 32, connected: Math.min(agents, 1000) });
    try {
      for (const audience of ['one', 'group', 'ring-all'] as const) {
        const { perWebhook, sustained } = await account.measure(audience, audience === 'ring-all' ? 3 : 5);
        const rcu = perWebhook.busiestRead?.rcu ?? 0;
        const wcu = perWebhook.busiestWrite?.wcu ?? 0;
        const atTarget = audience === 'one' && agents >= scale(10_000, 1000);
        record({
          section: 'capacity',
          metric: `${agents} agents, ${label[audience]}: busiest key · total · ceiling`,
          value: `${rcu} RCU · ${wcu} WCU · ${perWebhook.rcu}/${perWebhook.wcu} · ${Math.floor(sustained.ceilingPerSecond)}/s`,
          ...(atTarget ? { target: '≤ 5 RCU, ≤ 3 WCU', met: rcu <= 5 && wcu <= 3 } : {}),
          data: {
            agents,
            audience,
            busiestRead: perWebhook.busiestRead,
            busiestWrite: perWebhook.busiestWrite,
            rcu: perWebhook.rcu,
            wcu: perWebhook.wcu,
            requests: perWebhook.requests,
            sharedRead: sustained.busiestRead?.key,
            sharedWrite: sustained.busiestWrite?.key,
            ceilingPerSecond: sustained.ceilingPerSecond,
          },
        });
      }
    } finally {
      await account.stop();
    }
  }
};

const sections: Record<string, () => Promise<void>> = {
  latency: pushLatency,
  fanout,
  routing,
  throughput,
  'cold-start': coldStart,
  widget,
  bridge: () => bridgeBench(record, QUICK),
  kommo: () => kommoBench(record, scale),
  capacity,
  crm: () => crmBench(record, scale),
};

const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGb: round(os.totalmem() / 1024 ** 3),
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
};
console.log(
  `Callbridge bench — ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}${QUICK ? ' (QUICK: counts shrunk)' : ''}`,
);
const unknownSections = ONLY?.filter((name) => !(name in sections)) ?? [];
if (unknownSections.length > 0) {
  console.error(
    `error: BENCH_ONLY: unknown section ${unknownSections.join(', ')}; expected some of ${Object.keys(sections).join(', ')}`,
  );
  process.exit(2);
}
const started = Date.now();
for (const [name, run] of Object.entries(sections)) {
  if (ONLY && !ONLY.includes(name)) continue;
  await run();
}
const BASELINE = process.env.BENCH_BASELINE;
if (BASELINE) {
  const compared = BASELINE_SECTIONS.filter((name) => !ONLY || ONLY.includes(name));
  const before = runBaseline(BASELINE, compared);
  console.log(`\nThis commit against ${BASELINE}, measured in this run`);
  for (const row of compareWithBaseline(BASELINE, rows, before)) record(row);
}
const met = rows.filter((r) => r.met === true).length;
const missed = rows.filter((r) => r.met === false);
console.log(
  `\n${met} targets met, ${missed.length} missed${missed.length ? `: ${missed.map((r) => `${r.section} (${r.metric})`).join('; ')}` : ''}`,
);
console.log(`took ${round((Date.now() - started) / 1000)} s`);
mkdirSync('bench', { recursive: true });
writeFileSync(
  'bench/results.json',
  `${JSON.stringify({ date: new Date().toISOString(), quick: QUICK, machine, rows }, null, 2)}\n`,
);
console.log('wrote bench/results.json');
