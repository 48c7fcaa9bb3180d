/**
 * The reliability suite's closing table: the figures each test file of test/reliability wrote to
 * reports/reliability/<file>.json, per file and in total. Exits non-zero when a promise was broken (a leak, a crash,
 * more jobs than logical calls) or when no figures were found. `--clear` removes the figures of an earlier run.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figures } from '../test/reliability/tally.js';

const DIR = fileURLToPath(new URL('../reports/reliability', import.meta.url));
const COLUMNS = [
  ['scenarios', 'scenarios tried'],
  ['fuzzCases', 'fuzz cases run'],
  ['faultsInjected', 'faults injected'],
  ['jobs', 'jobs created / logical calls'],
  ['leaks', 'leaks found'],
  ['crashes', 'crashes'],
] as const;

type Row = Figures & { name: string };

if (process.argv.includes('--clear')) {
  rmSync(DIR, { recursive: true, force: true });
  process.exit(0);
}

let files: string[] = [];
try {
  files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
} catch {
  // reported below
}
const rows: Row[] = files.sort().map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Row);
if (rows.length === 0) {
  console.error(`No reliability figures in ${DIR}: run vitest on test/reliability first.`);
  process.exit(1);
}
const total: Row = {
  name: '**total**',
  scenarios: 0,
  fuzzCases: 0,
  faultsInjected: 0,
  jobsCreated: 0,
  logicalCalls: 0,
  leaks: 0,
  crashes: 0,
};
for (const row of rows) {
  for (const key of [
    'scenarios',
    'fuzzCases',
    'faultsInjected',
    'jobsCreated',
    'logicalCalls',
    'leaks',
    'crashes',
  ] as const) {
    total[key] += row[key];
  }
}

const cell = (row: Row, key: (typeof COLUMNS)[number][0]): string =>
  key === 'jobs' ? `${row.jobsCreated} / ${row.logicalCalls}` : String(row[key]);
const table = [
  `| suite | ${COLUMNS.map(([, title]) => title).join(' | ')} |`,
  `|---|${COLUMNS.map(() => '---:').join('|')}|`,
  ...[...rows, total].map((row) => `| ${row.name} | ${COLUMNS.map(([key]) => cell(row, key)).join(' | ')} |`),
].join('\n');

const broken = [
  total.leaks > 0 ? `${total.leaks} leak(s) of the canary key` : undefined,
  total.crashes > 0 ? `${total.crashes} crash(es)` : undefined,
  total.jobsCreated > total.logicalCalls
    ? 'more upstream jobs than logical calls (a double charge)'
    : undefined,
].filter((s) => s !== undefined);

process.stdout.write(`\nReliability suite, ${new Date().toISOString().slice(0, 16)}Z\n\n${table}\n\n`);
if (broken.length > 0) {
  process.stdout.write(`BROKEN: ${broken.join('; ')}\n`);
  process.exit(1);
}
process.stdout.write('No leak, no crash, never more than one upstream job per logical call.\n');
