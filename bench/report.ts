/** Prints bench/results.json as the Markdown table the README's Performance section shows. */
import { readFileSync } from 'node:fs';
import { parseOrExit } from '../scripts/cli';
import type { Row } from './stats';

const { positionals } = parseOrExit({
  usage: 'npm run bench:report [-- results.json]',
  details: '  Prints a results file of `npm run bench` (bench/results.json by default) as a Markdown table.',
  examples: ['npm run bench:report', 'npm run bench:report -- /tmp/results.json'],
  options: {},
  allowPositionals: true,
});
const file = positionals[0] ?? 'bench/results.json';
let text: string;
try {
  text = readFileSync(file, 'utf8');
} catch {
  console.error(`error: ${file}: no such results file; run npm run bench first`);
  process.exit(2);
}
const { date, machine, rows } = JSON.parse(text) as {
  date: string;
  machine: { cpu: string; cores: number; node: string };
  rows: Row[];
};
const escapeCell = (text: string) => text.replace(/\|/g, '\\|');
console.log(
  `Measured ${date.slice(0, 10)} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, with \`npm run bench\`.\n`,
);
console.log('| section | measurement | result | target |');
console.log('| --- | --- | --- | --- |');
for (const row of rows) {
  const verdict = row.met === undefined ? '' : row.met ? ' ✓' : ' ✗';
  console.log(
    `| ${row.section} | ${escapeCell(row.metric)} | ${escapeCell(row.value)} | ${row.target ? `${escapeCell(row.target)}${verdict}` : ''} |`,
  );
}
