/**
 * The same bench, in the same run, on an earlier commit: "not slower than before" is only a claim when both
 * are measured on one machine at one time (figures from another machine or another hour differ by more than
 * the change being judged). BENCH_BASELINE=<git ref> checks the ref out in a temporary worktree (sharing
 * this checkout's node_modules), runs its own bench/run.ts for the push-path sections, and compares.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { type Row, round } from './stats';

/** The sections whose figures an earlier commit's bench also produces, in the same shape. */
export const BASELINE_SECTIONS = ['latency', 'fanout', 'throughput'] as const;

interface Figure {
  label: string;
  /** Which way is better. */
  better: 'lower' | 'higher';
  unit: string;
  pick: (rows: readonly Row[]) => number | undefined;
}

const data = (rows: readonly Row[], section: string, match: (d: Record<string, unknown>) => boolean) =>
  rows
    .filter((r) => r.section === section)
    .map((r) => (r.data ?? {}) as Record<string, unknown>)
    .find(match);

const FIGURES: readonly Figure[] = [
  {
    label: 'push latency p50, 1,000 agents',
    better: 'lower',
    unit: 'ms',
    pick: (rows) => data(rows, 'push-latency', (d) => d.agentsConnected === 1000)?.p50 as number | undefined,
  },
  {
    label: 'push latency p99, 1,000 agents',
    better: 'lower',
    unit: 'ms',
    pick: (rows) => data(rows, 'push-latency', (d) => d.agentsConnected === 1000)?.p99 as number | undefined,
  },
  {
    label: '1,000-socket ring-all p50',
    better: 'lower',
    unit: 'ms',
    pick: (rows) => data(rows, 'fanout', (d) => d.sockets === 1000)?.p50 as number | undefined,
  },
  {
    label: 'sustained webhooks/s',
    better: 'higher',
    unit: '/s',
    pick: (rows) => data(rows, 'throughput', (d) => typeof d.rate === 'number')?.rate as number | undefined,
  },
];

/** Runs the ref's bench for `sections` and returns its rows. */
export const runBaseline = (ref: string, sections: readonly string[]): Row[] => {
  const dir = mkdtempSync(join(os.tmpdir(), 'callbridge-baseline-'));
  const git = (...args: string[]) => {
    const out = spawnSync('git', args, { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`git ${args.join(' ')}: ${out.stderr.trim()}`);
  };
  rmSync(dir, { recursive: true, force: true });
  git('worktree', 'add', '--detach', dir, ref);
  try {
    symlinkSync(resolve('node_modules'), join(dir, 'node_modules'));
    console.log(`\nBaseline: ${ref}, the same sections, now (its own output follows)`);
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts'], {
      cwd: dir,
      env: { ...process.env, BENCH_ONLY: sections.join(','), BENCH_BASELINE: '' },
      stdio: 'inherit',
    });
    if (run.status !== 0) throw new Error(`the baseline's bench exited with ${run.status}`);
    return (JSON.parse(readFileSync(join(dir, 'bench', 'results.json'), 'utf8')) as { rows: Row[] }).rows;
  } finally {
    git('worktree', 'remove', '--force', dir);
  }
};

/** One row per figure both runs have: this commit's value, the baseline's, and whether it held. */
export const compareWithBaseline = (ref: string, now: readonly Row[], before: readonly Row[]): Row[] =>
  FIGURES.flatMap((figure) => {
    const a = figure.pick(now);
    const b = figure.pick(before);
    if (a === undefined || b === undefined) return [];
    const held = figure.better === 'lower' ? a <= b : a >= b;
    return [
      {
        section: 'baseline',
        metric: `${figure.label}: now vs ${ref}`,
        value: `${round(a)} vs ${round(b)} ${figure.unit}`,
        target: figure.better === 'lower' ? 'at most the baseline' : 'at least the baseline',
        met: held,
        data: { now: a, baseline: b, ref },
      },
    ];
  });
