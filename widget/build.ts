/**
 * npm run build: dist/widget/ (unpacked) and dist/widget.zip, validated.
 *
 * The backend URL is baked in from CALLBRIDGE_API_URL, else from the `cdk deploy --outputs-file` JSON
 * (cdk-outputs.json, output HttpApiUrl); the widget's `api_url` setting can still override it.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { build } from 'esbuild';
import { zipSync } from 'fflate';
import { parseCommand, runCli, UsageError } from '../scripts/cli';
import { formatProblems, LOGOS, validateFiles } from './validate';

const root = fileURLToPath(new URL('..', import.meta.url));
const here = (path: string) => join(root, 'widget', path);

export interface BuildOptions {
  outDir?: string;
  apiUrl?: string;
}

export class ApiUrlError extends Error {
  override readonly name = 'ApiUrlError';
}

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * The backend URL the widget will call from Kommo's https pages: https, or http on this machine (the local
 * stack). Anything else would be blocked as mixed content, or leak disposable tokens in clear, so the build
 * refuses it instead of baking it in silently.
 */
export const checkApiUrl = (url: string, source = 'CALLBRIDGE_API_URL'): string => {
  if (url === '') return url;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ApiUrlError(
      `${source}: "${url}" is not a URL; expected https://… such as https://abc123.execute-api.eu-west-1.amazonaws.com`,
    );
  }
  if (parsed.protocol === 'https:') return url;
  if (parsed.protocol === 'http:' && LOOPBACK.test(parsed.hostname)) return url;
  throw new ApiUrlError(
    `${source}: "${url}" must start with https:// (Kommo pages are https and browsers block plain http; only localhost may use http)`,
  );
};

export const resolveApiUrl = (
  env: Record<string, string | undefined>,
  outputsFile = join(root, 'cdk-outputs.json'),
) => {
  if (env.CALLBRIDGE_API_URL) return checkApiUrl(env.CALLBRIDGE_API_URL.trim().replace(/\/+$/, ''));
  if (existsSync(outputsFile)) {
    const outputs = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>;
    const url = Object.values(outputs).find((o) => o.HttpApiUrl)?.HttpApiUrl;
    if (url) return checkApiUrl(url.replace(/\/+$/, ''), `${outputsFile} (HttpApiUrl)`);
  }
  return '';
};

export const bundleScript = async (apiUrl: string, version: string): Promise<string> => {
  const result = await build({
    entryPoints: [here('src/script.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'callbridge',
    platform: 'browser',
    target: ['es2022'],
    // Kommo's marketplace rejects minified code; readable output also makes support easier.
    minify: false,
    legalComments: 'none',
    charset: 'utf8',
    define: {
      __CALLBRIDGE_API_URL__: JSON.stringify(apiUrl),
      __CALLBRIDGE_VERSION__: JSON.stringify(version),
    },
  });
  const code = result.outputFiles[0]?.text ?? '';
  // The bundle's one top-level variable lives inside the AMD factory, so the page gains no global.
  return `/* Callbridge widget ${version} (https://github.com/callbridge/callbridge) */
define(['jquery'], function ($) {
  'use strict';
${code.trimEnd()}
  return callbridge.createWidget();
});
`;
};

export const renderLogos = (): Record<string, Uint8Array> => {
  const svg = readFileSync(here('images/logo.svg'), 'utf8');
  const inner = svg.replace(/^[\s\S]*?<svg[^>]*>/, '').replace(/<\/svg>\s*$/, '');
  const out: Record<string, Uint8Array> = {};
  for (const [file, [width, height]] of Object.entries(LOGOS)) {
    // Every size from the one source: the artwork is fitted, centred, on a transparent canvas.
    const sized = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 400 272" preserveAspectRatio="xMidYMid meet">${inner}</svg>`;
    out[file] = new Resvg(sized, { fitTo: { mode: 'original' } }).render().asPng();
  }
  return out;
};

export const widgetFiles = async (options: BuildOptions = {}): Promise<Record<string, Uint8Array>> => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const apiUrl = checkApiUrl(options.apiUrl ?? resolveApiUrl(process.env), 'the backend URL');
  const manifest = JSON.parse(readFileSync(here('manifest.json'), 'utf8')) as {
    widget: { version: string; locale: string[] };
  };
  manifest.widget.version = pkg.version;
  const encode = (text: string) => new TextEncoder().encode(text);
  const files: Record<string, Uint8Array> = {
    'manifest.json': encode(`${JSON.stringify(manifest, null, 2)}\n`),
    'script.js': encode(await bundleScript(apiUrl, pkg.version)),
    ...renderLogos(),
  };
  for (const locale of manifest.widget.locale) {
    files[`i18n/${locale}.json`] = readFileSync(here(`i18n/${locale}.json`));
  }
  return files;
};

const newestMtime = (path: string): number => {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
};

/** True when dist/widget is missing or older than anything it is built from. */
export const widgetIsStale = (outDir = join(root, 'dist')): boolean => {
  const script = join(outDir, 'widget', 'script.js');
  if (!existsSync(script)) return true;
  const sources = [here(''), join(root, 'lambdas/core/protocol.ts'), join(root, 'package.json')];
  return Math.max(...sources.map(newestMtime)) > statSync(script).mtimeMs;
};

export const buildWidget = async (options: BuildOptions = {}) => {
  const outDir = options.outDir ?? join(root, 'dist');
  const files = await widgetFiles(options);
  const problems = validateFiles(files);
  if (problems.length > 0) throw new Error(formatProblems('widget', problems));
  rmSync(join(outDir, 'widget'), { recursive: true, force: true });
  for (const [name, bytes] of Object.entries(files)) {
    const path = join(outDir, 'widget', name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
  const zip = zipSync(files, { level: 9, mtime: new Date('2026-01-01T00:00:00Z') });
  writeFileSync(join(outDir, 'widget.zip'), zip);
  return { files, zip, outDir };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  runCli(async () => {
    parseCommand(
      {
        usage: 'npm run build',
        details: `  Builds dist/widget/ and dist/widget.zip (checked as npm run validate does).
  The backend URL is baked in from CALLBRIDGE_API_URL (https://…, or http://localhost for the local
  stack), else from cdk-outputs.json (HttpApiUrl); the widget's api_url setting overrides it.`,
        examples: [
          'npm run build',
          'CALLBRIDGE_API_URL=https://abc123.execute-api.eu-west-1.amazonaws.com npm run build',
        ],
        options: {},
      },
      process.argv.slice(2),
    );
    let apiUrl: string;
    try {
      apiUrl = resolveApiUrl(process.env);
    } catch (error) {
      if (error instanceof ApiUrlError) throw new UsageError(error.message);
      throw error;
    }
    const { zip, outDir, files } = await buildWidget({ apiUrl });
    const script = files['script.js']?.byteLength ?? 0;
    console.log(`built ${join(outDir, 'widget.zip')} (${zip.byteLength} bytes; script.js ${script} bytes)`);
    console.log(
      apiUrl
        ? `backend URL baked in: ${apiUrl}`
        : 'no backend URL baked in: set it in the widget settings (api_url)',
    );
  });
}
