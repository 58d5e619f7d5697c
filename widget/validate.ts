/**
 * Checks a widget archive against Kommo's packaging rules before an admin uploads it: files at the archive
 * root, UTF-8 without BOM, a complete manifest, one i18n file per locale with identical keys, readable
 * (unminified) AMD script, logos at the exact sizes and under 300 KB. Each problem names the rule and file.
 *
 * npm run validate [-- path/to/widget.zip]
 */
import { existsSync, readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { CliError, parseCommand, runCli, UsageError } from '../scripts/cli';

export interface Problem {
  rule: 'zip' | 'root' | 'encoding' | 'manifest' | 'i18n' | 'script' | 'images' | 'contents';
  file: string;
  message: string;
}

export const LOGOS: Record<string, [number, number]> = {
  'images/logo_main.png': [400, 272],
  'images/logo_medium.png': [240, 84],
  'images/logo_min.png': [84, 84],
  'images/logo_small.png': [108, 108],
  'images/logo.png': [130, 100],
};
const MAX_IMAGE_BYTES = 300 * 1024;
const TEXT = /\.(json|js|twig|css|html|txt|svg)$/i;
const ALLOWED =
  /^(manifest\.json|script\.js|i18n\/[a-z]{2}\.json|images\/[\w.-]+\.(png|jpg|jpeg|svg)|templates\/[\w.-]+\.twig|css\/[\w.-]+\.css)$/;

type Json = Record<string, unknown>;

const keyShape = (value: unknown, prefix = ''): string[] =>
  value && typeof value === 'object' && !Array.isArray(value)
    ? Object.entries(value as Json).flatMap(([k, v]) => {
        const path = prefix ? `${prefix}.${k}` : k;
        return v && typeof v === 'object' ? keyShape(v, path) : [path];
      })
    : [];

const lookup = (obj: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((node, part) => (node as Json | undefined)?.[part], obj);

const pngSize = (bytes: Uint8Array): [number, number] | undefined => {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((b, i) => bytes[i] !== b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [view.getUint32(16), view.getUint32(20)];
};

export const validateFiles = (files: Record<string, Uint8Array>): Problem[] => {
  const problems: Problem[] = [];
  const add = (rule: Problem['rule'], file: string, message: string) =>
    problems.push({ rule, file, message });
  const names = Object.keys(files).filter((n) => !n.endsWith('/'));

  if (!names.includes('manifest.json')) {
    const nested = names.find((n) => n.endsWith('/manifest.json'));
    add(
      'root',
      nested ?? 'manifest.json',
      nested
        ? `files must sit at the archive root, not inside "${nested.split('/')[0]}/"; zip the folder's contents`
        : 'manifest.json is missing from the archive root',
    );
    return problems;
  }
  for (const name of names) {
    if (!ALLOWED.test(name))
      add(
        'contents',
        name,
        'not part of a Kommo widget (manifest.json, script.js, i18n/, images/, templates/, css/)',
      );
  }

  const text: Record<string, string> = {};
  for (const name of names.filter((n) => TEXT.test(n))) {
    const bytes = files[name] as Uint8Array;
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
      add('encoding', name, 'starts with a UTF-8 BOM; save without BOM');
    try {
      text[name] = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      add('encoding', name, 'is not valid UTF-8');
    }
  }

  let manifest: Json | undefined;
  try {
    manifest = JSON.parse(text['manifest.json'] ?? '') as Json;
  } catch (error) {
    add('manifest', 'manifest.json', `is not valid JSON: ${(error as Error).message}`);
  }
  const locales: string[] = [];
  const i18nKeys: string[] = [];
  if (manifest) {
    const need = (path: string, test: (v: unknown) => boolean, expected: string) => {
      const value = lookup(manifest, path);
      if (!test(value))
        add('manifest', 'manifest.json', `${path}: expected ${expected}, got ${JSON.stringify(value)}`);
      return value;
    };
    const isKey = (v: unknown) => typeof v === 'string' && /^[\w]+(\.[\w]+)+$/.test(v);
    for (const field of ['name', 'description', 'short_description']) {
      const key = need(`widget.${field}`, isKey, 'an i18n key such as "widget.name"');
      if (typeof key === 'string') i18nKeys.push(key);
    }
    need(
      'widget.version',
      (v) => typeof v === 'string' && /^\d+\.\d+\.\d+/.test(v),
      'a version such as "1.0.0"',
    );
    need('widget.interface_version', (v) => v === 2, '2');
    need('widget.init_once', (v) => v === true, 'true (one socket per page across Kommo areas)');
    need('widget.installation', (v) => v === true, 'true');
    const locale = need(
      'widget.locale',
      (v) =>
        Array.isArray(v) && v.length > 0 && v.every((l) => typeof l === 'string' && /^[a-z]{2}$/.test(l)),
      'a non-empty list of two-letter locales',
    );
    if (Array.isArray(locale)) locales.push(...(locale as string[]));
    need('widget.support.link', (v) => typeof v === 'string' && /^https:\/\//.test(v), 'an https link');
    need(
      'widget.support.email',
      (v) => typeof v === 'string' && /^[^@\s]+@[^@\s]+$/.test(v),
      'an e-mail address',
    );
    need(
      'locations',
      (v) => Array.isArray(v) && v.includes('everywhere') && v.includes('settings'),
      'a list with "everywhere" and "settings"',
    );
    need('tour.is_tour', (v) => typeof v === 'boolean', 'true or false');
    const tourKey = lookup(manifest, 'tour.tour_description');
    if (typeof tourKey === 'string') i18nKeys.push(tourKey);
    need('settings.phones.type', (v) => v === 'users', '"users" (each Kommo user’s extension)');
    need('settings.api_url.type', (v) => v === 'text', '"text"');
    for (const [name, field] of Object.entries((manifest.settings as Json | undefined) ?? {})) {
      const key = (field as Json).name;
      if (isKey(key)) i18nKeys.push(key as string);
      else add('manifest', 'manifest.json', `settings.${name}.name: expected an i18n key`);
    }
  }

  let reference: { file: string; shape: string } | undefined;
  for (const locale of locales) {
    const file = `i18n/${locale}.json`;
    if (!names.includes(file)) {
      add('i18n', file, `missing: manifest lists locale "${locale}"`);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text[file] ?? '');
    } catch (error) {
      add('i18n', file, `is not valid JSON: ${(error as Error).message}`);
      continue;
    }
    for (const key of i18nKeys) {
      if (typeof lookup(parsed, key) !== 'string') add('i18n', file, `has no text for "${key}"`);
    }
    const shape = keyShape(parsed).sort().join('\n');
    if (!reference) reference = { file, shape };
    else if (shape !== reference.shape) {
      const a = new Set(reference.shape.split('\n'));
      const b = new Set(shape.split('\n'));
      const diff = [
        ...[...a].filter((k) => !b.has(k)).map((k) => `-${k}`),
        ...[...b].filter((k) => !a.has(k)).map((k) => `+${k}`),
      ];
      add('i18n', file, `keys differ from ${reference.file}: ${diff.slice(0, 5).join(', ')}`);
    }
  }

  const script = text['script.js'];
  if (script === undefined) {
    if (!names.includes('script.js')) add('script', 'script.js', 'is missing');
  } else {
    const code = script.replace(/^\s*(\/\*[\s\S]*?\*\/\s*|\/\/[^\n]*\n\s*)*/, '');
    if (!/^define\(\s*\[\s*['"]jquery['"]\s*\]\s*,\s*function\s*\(/.test(code)) {
      add('script', 'script.js', "must be an AMD module: define(['jquery'], function ($) { … })");
    }
    const lines = script.split('\n');
    const longest = Math.max(...lines.map((l) => l.length));
    if (longest > 400 || script.length / lines.length > 120) {
      add(
        'script',
        'script.js',
        `looks minified (longest line ${longest} characters); Kommo's marketplace rejects minified code`,
      );
    }
  }

  for (const [file, [width, height]] of Object.entries(LOGOS)) {
    const bytes = files[file];
    if (!bytes) {
      add('images', file, `is missing (${width}×${height} PNG)`);
      continue;
    }
    const size = pngSize(bytes);
    if (!size) add('images', file, 'is not a PNG');
    else if (size[0] !== width || size[1] !== height)
      add('images', file, `expected ${width}×${height}, got ${size[0]}×${size[1]}`);
    if (bytes.byteLength > MAX_IMAGE_BYTES)
      add('images', file, `is ${Math.round(bytes.byteLength / 1024)} KB; at most 300 KB`);
  }
  return problems;
};

export const validateZip = (zip: Uint8Array): Problem[] => {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(zip);
  } catch (error) {
    return [{ rule: 'zip', file: '(archive)', message: `not a readable zip: ${(error as Error).message}` }];
  }
  return validateFiles(files);
};

export const formatProblems = (archive: string, problems: Problem[]): string =>
  problems.map((p) => `${archive}: [${p.rule}] ${p.file}: ${p.message}`).join('\n');

if (import.meta.url === `file://${process.argv[1]}`) {
  runCli(() => {
    const { positionals } = parseCommand(
      {
        usage: 'npm run validate [-- ARCHIVE]',
        details:
          "  Checks a widget archive (default dist/widget.zip) against Kommo's rules: manifest, files, logos, i18n.",
        examples: ['npm run validate', 'npm run validate -- ~/Downloads/widget.zip'],
        options: {},
        allowPositionals: true,
      },
      process.argv.slice(2),
    );
    if (positionals.length > 1) throw new UsageError(`expected one archive, got ${positionals.length}`);
    const archive = positionals[0] ?? 'dist/widget.zip';
    if (!existsSync(archive)) throw new CliError(`${archive} not found: run npm run build first`);
    const problems = validateZip(readFileSync(archive));
    if (problems.length > 0) {
      console.error(formatProblems(archive, problems));
      process.exit(1);
    }
    console.log(`${archive}: valid Kommo widget archive`);
  });
}
