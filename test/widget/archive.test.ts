import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { unzipSync, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildWidget, resolveApiUrl } from '../../widget/build';
import { type Problem, validateZip } from '../../widget/validate';

const out = mkdtempSync(join(tmpdir(), 'callbridge-widget-'));
let files: Record<string, Uint8Array>;
let zip: Uint8Array;

beforeAll(async () => {
  ({ files, zip } = await buildWidget({ outDir: out, apiUrl: 'https://api.example.test' }));
});

const text = (s: string) => new TextEncoder().encode(s);
const manifest = () =>
  JSON.parse(new TextDecoder().decode(files['manifest.json'])) as Record<string, Record<string, unknown>>;
const withFiles = (patch: Record<string, Uint8Array | undefined>) => {
  const next: Record<string, Uint8Array> = { ...files };
  for (const [name, bytes] of Object.entries(patch)) {
    if (bytes === undefined) delete next[name];
    else next[name] = bytes;
  }
  return zipSync(next);
};
const rulesOf = (problems: Problem[]) => problems.map((p) => `${p.rule}:${p.file}`);

describe('widget archive', () => {
  it('is valid, with every file at the root', () => {
    expect(validateZip(zip)).toEqual([]);
    expect(Object.keys(unzipSync(zip)).sort()).toEqual([
      'i18n/en.json',
      'i18n/es.json',
      'i18n/pt.json',
      'i18n/ru.json',
      'images/logo.png',
      'images/logo_main.png',
      'images/logo_medium.png',
      'images/logo_min.png',
      'images/logo_small.png',
      'manifest.json',
      'script.js',
    ]);
    expect(readFileSync(join(out, 'widget.zip'))).toEqual(Buffer.from(zip));
  });

  it('declares what Kommo needs for a telephony widget', () => {
    const m = manifest();
    expect(m.widget).toMatchObject({ interface_version: 2, init_once: true, installation: true });
    expect(m.locations).toEqual(['everywhere', 'settings']);
    expect(m.settings).toMatchObject({ phones: { type: 'users' }, api_url: { type: 'text' } });
    expect(m.widget?.version).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it.each<[string, () => Uint8Array, string]>([
    ['not a zip', () => text('PK nope'), 'zip:(archive)'],
    [
      'files inside a folder',
      () => zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [`callbridge/${k}`, v]))),
      'root:callbridge/manifest.json',
    ],
    [
      'a BOM',
      () =>
        withFiles({ 'i18n/es.json': new Uint8Array([0xef, 0xbb, 0xbf, ...(files['i18n/es.json'] ?? [])]) }),
      'encoding:i18n/es.json',
    ],
    [
      'invalid UTF-8',
      () => withFiles({ 'i18n/pt.json': new Uint8Array([0x7b, 0xff, 0x7d]) }),
      'encoding:i18n/pt.json',
    ],
    [
      'init_once off',
      () =>
        withFiles({
          'manifest.json': text(
            JSON.stringify({ ...manifest(), widget: { ...manifest().widget, init_once: false } }),
          ),
        }),
      'manifest:manifest.json',
    ],
    [
      'no everywhere location',
      () => withFiles({ 'manifest.json': text(JSON.stringify({ ...manifest(), locations: ['settings'] })) }),
      'manifest:manifest.json',
    ],
    [
      'phones not a users field',
      () =>
        withFiles({
          'manifest.json': text(
            JSON.stringify({
              ...manifest(),
              settings: { ...manifest().settings, phones: { name: 'settings.phones', type: 'text' } },
            }),
          ),
        }),
      'manifest:manifest.json',
    ],
    ['a missing locale file', () => withFiles({ 'i18n/ru.json': undefined }), 'i18n:i18n/ru.json'],
    [
      'locales with different keys',
      () => {
        const es = JSON.parse(new TextDecoder().decode(files['i18n/es.json'])) as Record<
          string,
          Record<string, string>
        >;
        delete es.call?.missed;
        return withFiles({ 'i18n/es.json': text(JSON.stringify(es)) });
      },
      'i18n:i18n/es.json',
    ],
    [
      'a minified script',
      () => withFiles({ 'script.js': text(`define(['jquery'], function ($) {${'var a=1;'.repeat(200)}});`) }),
      'script:script.js',
    ],
    [
      'a script that is not AMD',
      () => withFiles({ 'script.js': text('window.Callbridge = {};\n') }),
      'script:script.js',
    ],
    ['a missing logo', () => withFiles({ 'images/logo_min.png': undefined }), 'images:images/logo_min.png'],
    [
      'a logo of the wrong size',
      () => withFiles({ 'images/logo.png': files['images/logo_min.png'] }),
      'images:images/logo.png',
    ],
    [
      'a logo over 300 KB',
      () =>
        withFiles({
          'images/logo_small.png': new Uint8Array([
            ...(files['images/logo_small.png'] ?? []),
            ...new Uint8Array(310 * 1024),
          ]),
        }),
      'images:images/logo_small.png',
    ],
    ['a stray file', () => withFiles({ 'script.js.map': text('{}') }), 'contents:script.js.map'],
  ])('rejects %s, naming the rule and file', (_label, make, expected) => {
    expect(rulesOf(validateZip(make()))).toContain(expected);
  });

  it('fails npm run validate with a message naming the rule and file', () => {
    const bad = join(out, 'bad.zip');
    writeFileSync(bad, withFiles({ 'images/logo_min.png': undefined }));
    expect(() =>
      execFileSync(process.execPath, ['--import', 'tsx', 'widget/validate.ts', bad], { stdio: 'pipe' }),
    ).toThrow(/\[images\] images\/logo_min\.png: is missing \(84×84 PNG\)/);
  });

  it('bakes the backend URL from CALLBRIDGE_API_URL or the cdk outputs file', () => {
    expect(resolveApiUrl({ CALLBRIDGE_API_URL: 'https://a.test/' })).toBe('https://a.test');
    const outputs = join(out, 'outputs.json');
    writeFileSync(outputs, JSON.stringify({ Callbridge: { HttpApiUrl: 'https://b.test/' } }));
    expect(resolveApiUrl({}, outputs)).toBe('https://b.test');
    expect(new TextDecoder().decode(files['script.js'])).toContain('"https://api.example.test"');
  });
});

describe('script.js', () => {
  const load = () => {
    const defined: { deps: unknown; factory: (...args: unknown[]) => unknown }[] = [];
    const logs: unknown[] = [];
    const sandbox: Record<string, unknown> = {
      define: (deps: unknown, factory: (...args: unknown[]) => unknown) => defined.push({ deps, factory }),
      console: {
        log: (...a: unknown[]) => logs.push(a),
        debug: (...a: unknown[]) => logs.push(a),
        warn: (...a: unknown[]) => logs.push(a),
        error: (...a: unknown[]) => logs.push(a),
        info: (...a: unknown[]) => logs.push(a),
      },
    };
    const before = new Set(Object.keys(sandbox));
    runInNewContext(new TextDecoder().decode(files['script.js']), sandbox);
    return { defined, logs, added: Object.keys(sandbox).filter((k) => !before.has(k)) };
  };

  it("is one AMD module define(['jquery'], …) returning the widget constructor, and adds no globals", () => {
    const { defined, added } = load();
    expect(defined).toHaveLength(1);
    expect(defined[0]?.deps).toEqual(['jquery']);
    const Widget = defined[0]?.factory({}) as new () => { callbacks: Record<string, unknown> };
    expect(typeof Widget).toBe('function');
    const callbacks = new Widget().callbacks;
    for (const name of ['render', 'init', 'bind_actions', 'settings', 'onSave', 'destroy']) {
      expect(typeof callbacks[name]).toBe('function');
    }
    expect(added).toEqual([]);
  });

  it('is readable, not minified, and prints nothing without the debug flag', () => {
    const source = new TextDecoder().decode(files['script.js']);
    expect(source.split('\n').length).toBeGreaterThan(300);
    const { logs } = load();
    expect(logs).toEqual([]);
  });
});
