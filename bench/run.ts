/**
 * `npm run bench`: every figure of issues 6 and 14 (7: many hosts) in one run (after `node scripts/build.mjs`), printed as one table and
 * written to bench/results.json. Timings on shared machines are noisy: figures are medians, and each is compared with
 * its floor measured side by side in the same run.
 */
import { writeFile } from 'node:fs/promises';
import { arch, cpus, platform, release } from 'node:os';
import { join } from 'node:path';
import { callOverhead } from './call-overhead.js';
import { coldStart } from './cold-start.js';
import { completionLag } from './completion-lag.js';
import { footprint } from './footprint.js';
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

const started = Date.now();
const rows: Row[] = [];
// Cold start and call overhead never reach Apiframe; the server is given a simulator to point at all the same.
const idle = await benchSimulator({});
try {
  progress('2. tool footprint');
  rows.push(...(await footprint(idle.url)));
  progress('1. cold start');
  rows.push(...(await coldStart(idle.url)));
  progress('3. call overhead');
  rows.push(...(await callOverhead(idle.url)));
} finally {
  await idle.close();
}
progress('4. completion lag and polling cost (about a minute)');
rows.push(...(await completionLag()));
progress('5. upload memory and speed');
rows.push(...(await upload()));
progress('6. many jobs');
rows.push(...(await manyJobs()));
progress('7. many hosts on one PostgreSQL ledger (about a minute)');
rows.push(...(await manyHosts()));
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
await writeFile(join(ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(
  `\nseedance-mcp benchmarks, ${results.date}, node ${results.node}, ${results.machine.cpus} CPUs, ${seconds} s\n\n${table(rows)}\n\n`,
);
const missed = rows.filter((r) => r.met === false);
process.stdout.write(
  missed.length === 0
    ? 'Every target met.\n'
    : `Targets missed: ${missed.map((r) => `${r.figure} (${r.metric})`).join('; ')}.\n`,
);
