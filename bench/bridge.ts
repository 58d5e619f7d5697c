/**
 * The Asterisk bridge under a busy PBX: the eight recorded calls replayed again and again (each under its own
 * Asterisk systemname, so every replay is a new call), many at once with their frames interleaved, into the real
 * entry point running as its own process. Callbridge is a loopback sink answering 202, so the figure is the
 * bridge's own: AMI parsing, call tracking, the fsynced outbox and signed HTTP delivery.
 *
 * - Throughput: AMI frames/s read and call events/s delivered, first frame to last event acknowledged.
 * - Memory: the bridge process's resident set after an hour's worth of calls played as fast as it takes them
 *   (time-compressed), beside its size when idle; and how much call state it still holds.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScriptedAmi } from '../test/bridge/ami-server';
import { SCENARIOS } from '../test/bridge/scenarios';
import { type Frame, loadTranscript } from '../test/bridge/transcript';
import { type Row, round } from './stats';

const SECRET = 'whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3';
const MAIN = join(import.meta.dirname, '../bridge/asterisk/main.ts');

const rssMb = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const bridgeBench = async (record: (row: Row) => void, quick: boolean) => {
  console.log('\n7. Asterisk bridge: recorded AMI calls in → signed, fsynced call events out (own process)');
  let received = 0;
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"accepted"}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/webhooks/acme`;
  const ami = new ScriptedAmi({ username: 'bench', secret: 'bench-secret' });
  await ami.start();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      AMI_HOST: '127.0.0.1',
      AMI_PORT: String(ami.port),
      AMI_USERNAME: 'bench',
      AMI_SECRET: 'bench-secret',
      CALLBRIDGE_WEBHOOK_URL: sinkUrl,
      CALLBRIDGE_WEBHOOK_SECRET: SECRET,
      BRIDGE_DATA_DIR: mkdtempSync(join(tmpdir(), 'callbridge-bench-')),
      BRIDGE_TRUNKS: 'voipgrid-siproute-docker',
      BRIDGE_INBOUND_CONTEXTS: 'voipgrid_in,from-trunk,from-pstn',
      BRIDGE_STATUS_INTERVAL_MS: '0',
      BRIDGE_SEND_CONCURRENCY: '16',
      BRIDGE_HEALTH_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout?.on('data', (d) => {
    stdout = (stdout + String(d)).slice(-100_000);
  });
  const pid = child.pid ?? 0;
  try {
    await ami.waitForLogin(1, 20_000);
    while (!/"url":"([^"]+)"/.test(stdout)) await sleep(20);
    const healthUrl = /"url":"([^"]+)"/.exec(stdout)?.[1] ?? '';
    const memory = async () =>
      ((await (await fetch(healthUrl)).json()) as { memory: { rssMb: number; heapUsedMb: number } }).memory;
    await sleep(300);
    const idleRss = rssMb(pid);

    const templates = Object.values(SCENARIOS).map((s) => ({ file: s.file, events: s.expected.length }));
    let serial = 0;
    /** Play `calls` recorded calls, `concurrent` at a time with their frames interleaved; resolve when all delivered. */
    const play = async (calls: number, concurrent: number) => {
      const target =
        received + templates.reduce((n, t, i) => n + t.events * countOf(calls, templates.length, i), 0);
      let frames = 0;
      const active: Frame[][] = [];
      let started = 0;
      const startCall = () => {
        const template = templates[started % templates.length];
        if (!template) return;
        active.push(loadTranscript(template.file, `b${++serial}-`));
        started++;
      };
      while (active.length < concurrent && started < calls) startCall();
      const t0 = performance.now();
      while (active.length > 0) {
        const batch: Frame[] = [];
        for (let i = 0; i < active.length; i++) {
          const next = active[i]?.shift();
          if (next) batch.push(next);
        }
        for (let i = active.length - 1; i >= 0; i--) {
          if (active[i]?.length === 0) {
            active.splice(i, 1);
            if (started < calls) startCall();
          }
        }
        ami.play(batch);
        frames += batch.length;
        // Let the socket drain, as a PBX writing to a reader that keeps up would.
        if (frames % 400 < batch.length) await sleep(0);
      }
      while (received < target) await sleep(5);
      return { seconds: (performance.now() - t0) / 1000, frames, events: target };
    };

    const warm = quick ? 16 : 80;
    await play(warm, 16);
    const calls = quick ? 160 : 1600;
    const before = received;
    const run = await play(calls, 40);
    const eventsDelivered = received - before;
    record({
      section: 'bridge',
      metric: `${calls} recorded calls, 40 at once (${run.frames} AMI frames)`,
      value: `${round(run.frames / run.seconds, 0)} frames/s · ${round(eventsDelivered / run.seconds, 0)} events/s`,
      data: { calls, frames: run.frames, events: eventsDelivered, seconds: run.seconds },
    });

    // An hour of a busy PBX: one new call a second.
    const hourCalls = quick ? 360 : 3600;
    const half = await play(hourCalls / 2, 40);
    await sleep(1500);
    const halfway = await memory();
    const rest = await play(hourCalls / 2, 40);
    await sleep(1500); // let the state snapshot and GC settle
    const after = await memory();
    const afterRss = rssMb(pid);
    record({
      section: 'bridge',
      metric: `memory after an hour's worth (${hourCalls} calls, ${half.frames + rest.frames} frames, ${round(half.seconds + rest.seconds, 1)} s)`,
      value: `heap ${after.heapUsedMb} MB (half-way ${halfway.heapUsedMb}) · RSS ${round(afterRss, 0)} MB (idle ${round(idleRss, 0)})`,
      target: 'heap ≤ 64 MB, no growth',
      met: after.heapUsedMb <= 64 && after.heapUsedMb <= halfway.heapUsedMb * 1.5 + 4,
      data: { idleRssMb: idleRss, afterRssMb: afterRss, halfway, after, calls: hourCalls },
    });
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await ami.stop();
    sink.close();
  }
};

/** How many of `calls` (dealt round-robin over `n` templates) use template `i`. */
const countOf = (calls: number, n: number, i: number) => Math.floor(calls / n) + (i < calls % n ? 1 : 0);
