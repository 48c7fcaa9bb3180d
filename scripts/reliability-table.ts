/**
 * The reliability suite's closing table: the figures each test file of test/reliability wrote to
 * reports/reliability/<file>.json, per file and in total. Exits non-zero when a promise was broken (a leak, a crash,
 * more jobs than logical calls) or when no figures were found. `--clear` removes the figures of an earlier run.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { emptyFigures, FIGURE_KEYS, type Figures, REPORT_DIR } from '../test/reliability/figures.js';

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
  rmSync(REPORT_DIR, { recursive: true, force: true });
  process.exit(0);
}

let files: string[] = [];
try {
  files = readdirSync(REPORT_DIR).filter((f) => f.endsWith('.json'));
} catch {
  // reported below
}
const rows: Row[] = files.sort().map((f) => JSON.parse(readFileSync(join(REPORT_DIR, f), 'utf8')) as Row);
if (rows.length === 0) {
  console.error(`No reliability figures in ${REPORT_DIR}: run vitest on test/reliability first.`);
  process.exit(1);
}
const total: Row = { name: '**total**', ...emptyFigures() };
for (const row of rows) {
  for (const key of FIGURE_KEYS) {
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
