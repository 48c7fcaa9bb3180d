/**
 * `npm run bench`: every figure of issues 6, 11, 13 and 14 in one run (after `node scripts/build.mjs`), printed as one
 * table and written to bench/results.json. Timings on shared machines are noisy: figures are medians, and each is
 * compared with its floor measured side by side in the same run.
 *
 * `npm run bench -- 7` runs only the figures named (here 7), keeping the others' rows from the last results.json.
 * BENCH_HISTORY=100000,1000000 sets figure 7's history sizes (compared with empty, and the large one).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { arch, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { callOverhead } from './call-overhead.js';
import { coldStart } from './cold-start.js';
import { completionLag } from './completion-lag.js';
import { footprint } from './footprint.js';
import { history } from './history.js';
import { httpFigures } from './http.js';
import { benchSimulator, progress, ROOT, type Row, round } from './lib.js';
import { manyHosts } from './many-hosts.js';
import { manyJobs } from './many-jobs.js';
import { upload } from './upload.js';

function cellOf(value: number | string | undefined, unit: string): string {
  if (value === undefined) return '';
  return typeof value === 'number' ? `${value} ${unit}` : value;
}

export function table(rows: readonly Row[]): string {
  const header = ['#', 'figure', 'product', 'floor', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    r.figure,
    r.metric,
    cellOf(r.product, r.unit),
    cellOf(r.floor, r.unit),
    r.ratio === undefined ? '' : `${r.ratio}x`,
    r.target,
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const only = new Set(process.argv.slice(2));
const wanted = (figure: string) => only.size === 0 || only.has(figure);
const [compared = 100_000, large = 1_000_000] = (process.env.BENCH_HISTORY ?? '')
  .split(',')
  .filter(Boolean)
  .map(Number);
const resultsPath = join(ROOT, 'bench/results.json');
const started = Date.now();
const rows: Row[] =
  only.size === 0
    ? []
    : (JSON.parse(await readFile(resultsPath, 'utf8')) as { rows: Row[] }).rows.filter(
        (r) => !only.has(r.figure),
      );
if (wanted('1') || wanted('2') || wanted('3')) {
  // Cold start and call overhead never reach Apiframe; the server is given a simulator to point at all the same.
  const idle = await benchSimulator({});
  try {
    if (wanted('2')) {
      progress('2. tool footprint');
      rows.push(...(await footprint(idle.url)));
    }
    if (wanted('1')) {
      progress('1. cold start');
      rows.push(...(await coldStart(idle.url)));
    }
    if (wanted('3')) {
      progress('3. call overhead');
      rows.push(...(await callOverhead(idle.url)));
    }
  } finally {
    await idle.close();
  }
}
if (wanted('4')) {
  progress('4. completion lag and polling cost (about a minute)');
  rows.push(...(await completionLag()));
}
if (wanted('5')) {
  progress('5. upload memory and speed');
  rows.push(...(await upload()));
}
if (wanted('6')) {
  progress('6. many jobs');
  rows.push(...(await manyJobs()));
}
if (wanted('7')) {
  progress(`7. cost with history (${compared} jobs beside none, then ${large})`);
  rows.push(...(await history({ compared, large })));
}
if (wanted('8')) {
  progress('8. HTTP mode: 200 sessions beside the SDK floor, idle sessions, webhook lag');
  rows.push(...(await httpFigures()));
}
if (wanted('9')) {
  progress('9. many hosts on one PostgreSQL ledger (about a minute)');
  rows.push(...(await manyHosts()));
}
rows.sort((a, b) => a.figure.localeCompare(b.figure));

const seconds = round((Date.now() - started) / 1000, 1);
const results = {
  date: new Date().toISOString(),
  node: process.version,
  machine: {
    platform: platform(),
    release: release(),
    arch: arch(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
  },
  seconds,
  rows,
};
await writeFile(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(
  `\nseedance-mcp benchmarks, ${results.date}, node ${results.node}, ${results.machine.cpus} CPUs, ${seconds} s\n\n${table(rows)}\n\n`,
);
const missed = rows.filter((r) => r.met === false);
process.stdout.write(
  missed.length === 0
    ? 'Every target met.\n'
    : `Targets missed: ${missed.map((r) => `${r.figure} (${r.metric})`).join('; ')}.\n`,
);
