/**
 * Synthesize the app as `cdk deploy` would (bundles built by esbuild, assets staged in the cloud assembly),
 * and find each function's staged bundle through the asset hash its `Code.S3Key` carries.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { CallbridgeStack, type CallbridgeStackProps } from '../aws/stack';
import type { CfnTemplate } from './intrinsics';

export interface Synthesized {
  template: CfnTemplate;
  assets: Map<string, string>;
  directory: string;
}

export const synthesize = (props: CallbridgeStackProps = {}): Synthesized => {
  const outdir = mkdtempSync(join(tmpdir(), 'callbridge-rehearsal-'));
  const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': ['**'] } });
  const stack = new CallbridgeStack(app, 'Rehearsal', props);
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as CfnTemplate;
  const assets = new Map<string, string>();
  for (const [id, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const key = (resource.Properties?.Code as { S3Key?: string } | undefined)?.S3Key ?? '';
    assets.set(id, join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`));
  }
  return { template, assets, directory: assembly.directory };
};
