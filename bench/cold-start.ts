/**
 * Cold starts as the rehearsal runs them: each function's bundle from the synthesized cloud assembly, loaded
 * by a fresh execution environment on Node 24 (the Lambda's major), timed from process start to the runtime's
 * first request for an invocation (Lambda's INIT). An empty handler gives the runtime's own share.
 */
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { LambdaFunction } from '../infra/rehearsal/lambda-runtime';
import { lambdaNodeBinary } from '../infra/rehearsal/node24';
import { synthesize } from '../infra/rehearsal/synth';
import { distribution } from './stats';

export interface ColdStart {
  logicalId: string;
  bundleKb: number;
  initP50Ms: number;
  /** INIT less the empty handler's: what loading this bundle costs. */
  loadP50Ms: number;
}

const initOnce = async (assetDir: string, env: Record<string, string>, nodeBinary: string) => {
  const fn = new LambdaFunction(
    { logicalId: 'bench', assetDir, handler: 'index.handler', env, timeoutMs: 10_000, memoryMb: 256 },
    { nodeBinary },
  );
  try {
    return await fn.prewarm();
  } finally {
    await fn.close();
  }
};

export const measureColdStarts = async (
  runs: number,
): Promise<{ baselineMs: number; functions: ColdStart[] }> => {
  const nodeBinary = lambdaNodeBinary();
  const { template, assets } = synthesize();
  const empty = mkdtempSync(join(os.tmpdir(), 'callbridge-empty-'));
  writeFileSync(join(empty, 'index.mjs'), 'export const handler = async () => null;\n');
  const base = { PATH: '/usr/bin:/bin', AWS_REGION: 'us-east-1', NODE_OPTIONS: '--enable-source-maps' };
  const baselines: number[] = [];
  const functions: ColdStart[] = [];
  for (const [logicalId, assetDir] of assets) {
    const variables = (template.Resources[logicalId]?.Properties?.Environment as { Variables?: object })
      ?.Variables;
    // Stand-in values: loading reads the variables, it does not call anything.
    const env = Object.fromEntries(
      Object.keys(variables ?? {}).map((k) => [
        k,
        k.endsWith('URL') ? 'https://example.invalid/prod' : 'stand-in',
      ]),
    );
    const bundleKb = readdirSync(assetDir)
      .filter((f) => f.endsWith('.mjs'))
      .reduce((sum, f) => sum + statSync(join(assetDir, f)).size / 1024, 0);
    // Each run pairs an empty handler's INIT with this bundle's, so a busy moment inflates both alike.
    const inits: number[] = [];
    const loads: number[] = [];
    for (let i = 0; i < runs; i++) {
      const baseline = await initOnce(empty, base, nodeBinary);
      const init = await initOnce(assetDir, { ...base, ...env }, nodeBinary);
      baselines.push(baseline);
      inits.push(init);
      loads.push(init - baseline);
    }
    functions.push({
      logicalId,
      bundleKb,
      initP50Ms: distribution(inits).p50,
      loadP50Ms: distribution(loads).p50,
    });
  }
  return { baselineMs: distribution(baselines).p50, functions };
};
