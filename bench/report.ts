/** Prints bench/results.json as the Markdown table the README's Performance section shows. */
import { readFileSync } from 'node:fs';
import type { Row } from './stats';

const { date, machine, rows } = JSON.parse(readFileSync(process.argv[2] ?? 'bench/results.json', 'utf8')) as {
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
