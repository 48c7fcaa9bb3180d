/**
 * 7. HTTP mode (issue 13). Load: 200 concurrent sessions, each calling estimate_cost in a loop, beside the same load on
 * the floor (bench/floor-http-server.mjs, the SDK's minimal Streamable HTTP server with one echo tool), one after the
 * other in the same run; p50 and p99 of a call. Idle sessions: resident memory added per open, idle session.
 * Completion lag with webhooks: from a job's completion upstream to the server's first request for its video, when
 * the simulator sends webhooks (polling is then only the safety net).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { freePort } from '../test/helpers/ports.js';
import {
  BIN,
  benchSimulator,
  memoryOf,
  percentile,
  productEnv,
  progress,
  ROOT,
  type Row,
  round,
  tempDirs,
  until,
} from './lib.js';

const SESSIONS = 200;
const CALLS_PER_SESSION = 20;
const LAG_JOBS = 30;

interface Started {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function startServer(args: string[], env: Record<string, string>): Promise<Started> {
  const proc = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  if (proc.stdout === null) throw new Error('no stdout');
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const url = (JSON.parse(line) as { url: string }).url;
  return {
    url,
    proc,
    stop: () =>
      new Promise((resolve) => {
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

async function sessions(url: string, count: number): Promise<Client[]> {
  const clients: Client[] = [];
  // Opened a few at a time: the figure is the calls, not a connection storm.
  for (let i = 0; i < count; i += 20) {
    const batch = Array.from({ length: Math.min(20, count - i) }, async () => {
      const client = new Client({ name: 'bench', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      return client;
    });
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

async function load(
  url: string,
  call: { name: string; arguments: Record<string, unknown> },
): Promise<number[]> {
  const clients = await sessions(url, SESSIONS);
  const times: number[] = [];
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < CALLS_PER_SESSION; i++) {
          const started = performance.now();
          const result = await client.callTool(call);
          times.push(performance.now() - started);
          if (result.isError === true) throw new Error(`${call.name} failed under load`);
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  return times;
}

export async function httpFigures(): Promise<Row[]> {
  const rows: Row[] = [];
  const dirs = await tempDirs('http');
  const idle = await benchSimulator({});
  const env = productEnv(dirs.root, idle.url, {
    SEEDANCE_HTTP_MAX_SESSIONS: String(SESSIONS * 2),
    SEEDANCE_HTTP_MAX_IN_FLIGHT: String(SESSIONS * 2),
  });
  try {
    progress('7. HTTP: 200 sessions calling estimate_cost, and the floor');
    const product = await startServer([BIN, '--http', '--port', '0'], env);
    let productTimes: number[];
    let perSession: number;
    try {
      productTimes = await load(product.url, {
        name: 'estimate_cost',
        arguments: { duration: 5, resolution: '720p' },
      });
      const pid = product.proc.pid ?? 0;
      const before = (await memoryOf(pid)).rss;
      const open = await sessions(product.url, SESSIONS);
      const after = (await memoryOf(pid)).rss;
      perSession = (after - before) / SESSIONS;
      await Promise.all(open.map((c) => c.close()));
    } finally {
      await product.stop();
    }
    const floor = await startServer([`${ROOT}bench/floor-http-server.mjs`], { PATH: process.env.PATH ?? '' });
    let floorTimes: number[];
    try {
      floorTimes = await load(floor.url, { name: 'echo', arguments: { text: 'x' } });
    } finally {
      await floor.stop();
    }
    const p50 = percentile(productTimes, 50);
    const floorP50 = percentile(floorTimes, 50);
    rows.push({
      figure: '8a',
      metric: `HTTP call p50, ${SESSIONS} sessions (estimate_cost vs echo)`,
      product: round(p50, 1),
      floor: round(floorP50, 1),
      ratio: round(p50 / floorP50, 2),
      unit: 'ms',
      target: '<= 1.5x floor',
      met: p50 / floorP50 <= 1.5,
    });
    rows.push({
      figure: '8b',
      metric: `HTTP call p99, ${SESSIONS} sessions`,
      product: round(percentile(productTimes, 99), 1),
      floor: round(percentile(floorTimes, 99), 1),
      ratio: round(percentile(productTimes, 99) / percentile(floorTimes, 99), 2),
      unit: 'ms',
      target: 'reported',
      met: undefined,
    });
    rows.push({
      figure: '8c',
      metric: 'resident memory per idle HTTP session',
      product: round(perSession / 1024, 1),
      unit: 'KiB',
      target: 'reported',
      met: undefined,
    });
  } finally {
    await idle.close();
  }

  progress('7. HTTP: completion lag with webhooks');
  const bench = await benchSimulator({ queuedMs: 300, processingMs: 3_000 });
  const port = await freePort();
  const server = await startServer([BIN, '--http', '--port', String(port)], {
    ...productEnv(dirs.root, bench.url),
    SEEDANCE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    SEEDANCE_HTTP_MAX_IN_FLIGHT: String(LAG_JOBS * 2),
  });
  try {
    const client = new Client({ name: 'bench', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < LAG_JOBS; i++) {
      bench.sim.processingMs = 3_000 + ((i * 7) % LAG_JOBS) * (6_000 / LAG_JOBS);
      const before = bench.sim.jobs.size;
      calls.push(
        client.callTool(
          {
            name: 'generate_video',
            arguments: { prompt: `webhook lag ${i}`, duration: 4, wait_seconds: 60 },
          },
          undefined,
          { timeout: 120_000 },
        ),
      );
      await until(() => bench.sim.jobs.size > before);
    }
    await Promise.all(calls);
    const lags = [...bench.sim.jobs.keys()].map((id) => {
      const seen = bench.firstDownloadAt.get(id);
      if (seen === undefined) throw new Error(`job ${id} was never downloaded`);
      return seen - bench.completedAt(id);
    });
    const p95 = percentile(lags, 95);
    rows.push({
      figure: '8d',
      metric: 'completion lag p95 with webhooks (upstream completion to download start)',
      product: Math.round(p95),
      unit: 'ms',
      target: '< 300 ms',
      met: p95 < 300,
    });
    await client.close();
  } finally {
    await server.stop();
    await bench.close();
    await dirs.close();
  }
  return rows;
}
