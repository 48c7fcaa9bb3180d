/** What the benchmarks share: statistics, temporary folders, the two servers over stdio, and RSS sampling. */
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../src/simulator/server.js';

export const ROOT = new URL('..', import.meta.url).pathname;
export const BIN = join(ROOT, 'dist/cli.js');
export const FLOOR = join(ROOT, 'bench/floor-server.mjs');
export const BENCH_KEY = 'afk_bench';

export interface Row {
  /** Which figure: 1-6 of issue 6, 7 of issue 14. */
  figure: string;
  metric: string;
  product: number | string;
  floor?: number | string | undefined;
  /** product / floor, when both are numbers. */
  ratio?: number | undefined;
  unit: string;
  target: string;
  met: boolean | undefined;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (rank - lo);
}

export const median = (values: readonly number[]) => percentile(values, 50);

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

export interface TempDirs {
  root: string;
  close(): Promise<void>;
}

export async function tempDirs(prefix: string): Promise<TempDirs> {
  const root = await realpath(await mkdtemp(join(tmpdir(), `seedance-bench-${prefix}-`)));
  return { root, close: () => rm(root, { recursive: true, force: true }) };
}

/** The product's environment: a key, an Apiframe-compatible base URL, and its folders inside `root`. */
export function productEnv(root: string, baseUrl: string, extra: Record<string, string> = {}) {
  return {
    PATH: process.env.PATH ?? '',
    HOME: root,
    APIFRAME_API_KEY: BENCH_KEY,
    APIFRAME_BASE_URL: baseUrl,
    SEEDANCE_STATE_DIR: join(root, 'state'),
    SEEDANCE_OUTPUT_DIR: join(root, 'out'),
    SEEDANCE_ALLOWED_DIRS: root,
    SEEDANCE_LOG_LEVEL: 'warn',
    ...extra,
  };
}

export interface Connected {
  client: Client;
  pid: number;
  close(): Promise<void>;
}

/** Spawns a server script with node, as MCP clients do, and connects the SDK's own client to it over stdio. */
export async function connect(script: string, env: Record<string, string>): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [script],
    env,
    stderr: 'ignore',
  });
  const client = new Client({ name: 'seedance-bench', version: '1.0.0' });
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error('the server has no pid');
  return { client, pid, close: () => client.close() };
}

/** Resident set size of a process now, and its peak so far (VmHWM), in bytes. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

export const MB = 1024 * 1024;

export interface BenchSimulator {
  sim: Simulator;
  url: string;
  /** When each job's result was first requested: the moment the server knew it was done and started downloading. */
  firstDownloadAt: Map<string, number>;
  /** Every upstream request: route and time. */
  requests: { route: string; at: number }[];
  /** When a job completes upstream, by construction. */
  completedAt(jobId: string): number;
  close(): Promise<void>;
}

/** Apiframe's simulator in this process, with a clock on every request it serves. */
export async function benchSimulator(options: SimulatorOptions): Promise<BenchSimulator> {
  const sim = await startSimulator({ maxRecorded: 100, ...options });
  const firstDownloadAt = new Map<string, number>();
  const requests: { route: string; at: number }[] = [];
  // The simulator's HTTP server is its own; a second 'request' listener only looks.
  const http = (sim as unknown as { server: Server }).server;
  http.prependListener('request', (req: IncomingMessage) => {
    const at = Date.now();
    const path = req.url ?? '';
    const file = /^\/files\/([0-9a-f-]{36})\/video\.mp4/.exec(path);
    if (file?.[1] !== undefined && !firstDownloadAt.has(file[1])) firstDownloadAt.set(file[1], at);
    const route = file
      ? 'file'
      : path.startsWith('/v2/jobs/')
        ? 'job'
        : path.startsWith('/v2/jobs')
          ? 'jobs'
          : (path.split('?')[0] ?? path);
    requests.push({ route, at });
  });
  return {
    sim,
    url: sim.url,
    firstDownloadAt,
    requests,
    completedAt(jobId) {
      const job = sim.jobs.get(jobId);
      if (job === undefined) throw new Error(`no simulated job ${jobId}`);
      return job.createdAt + job.queuedMs + job.processingMs;
    },
    close: () => sim.close(),
  };
}

/** Requests that look at jobs (one job, or the list): what polling costs upstream. */
export const POLL_ROUTES = new Set(['job', 'jobs']);

/**
 * Resets a process's peak resident set (VmHWM) to its current one (Linux: `5` into /proc/PID/clear_refs), so that
 * the kernel itself reports the peak of what follows, with no sampling. False where that is not allowed.
 */
export async function resetPeak(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Samples a process's resident set every `everyMs` until stopped; returns the largest seen. */
export function sampleRss(pid: number, everyMs = 10) {
  let max = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rss } = await memoryOf(pid).catch(() => ({ rss: 0 }));
      max = Math.max(max, rss);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop(): Promise<number> {
      stopped = true;
      await loop;
      return max;
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` is true, looking every 5 ms. */
export async function until(check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(5);
  }
}
