/**
 * 4. Completion lag and polling cost, against the simulator with jobs of known duration.
 *
 * Lag: jobs of 3 to 9 s (spread wider than the poll cap, so completions fall at every point of the schedule) are
 * submitted one after the other and waited on together; for each, the time from its completion upstream to the
 * server's first request for its video (the answer follows after the download, which is excluded). Scale: the poll
 * requests per second while 1 job is in flight, and while 50 are.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  BIN,
  benchSimulator,
  connect,
  POLL_ROUTES,
  percentile,
  productEnv,
  progress,
  type Row,
  round,
  sleep,
  tempDirs,
  until,
} from './lib.js';

const LAG_JOBS = 30;
const SCALE_JOBS = 50;
/** Scale run: jobs long enough that every one is in flight through the whole measuring window. */
const SCALE_JOB_MS = 14_000;
const WINDOW = { fromMs: 4_000, toMs: 10_000 };

function generate(prompt: string) {
  return { name: 'generate_video', arguments: { prompt, duration: 4, wait_seconds: 60 } };
}

async function lag(): Promise<{ lags: number[]; requestsPerJob: number }> {
  const bench = await benchSimulator({ queuedMs: 300, processingMs: 3_000 });
  const dirs = await tempDirs('lag');
  const server = await connect(BIN, productEnv(dirs.root, bench.url));
  try {
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < LAG_JOBS; i++) {
      // Durations 3.3 s to 9.3 s, evenly spread, in shuffled order.
      bench.sim.processingMs = 3_000 + ((i * 7) % LAG_JOBS) * (6_000 / LAG_JOBS);
      const before = bench.sim.jobs.size;
      calls.push(server.client.callTool(generate(`lag test ${i}`), undefined, { timeout: 120_000 }));
      await until(() => bench.sim.jobs.size > before);
    }
    const results = (await Promise.all(calls)) as CallToolResult[];
    const failed = results.filter((r) => r.isError === true);
    if (failed.length > 0) throw new Error(`${failed.length} lag jobs failed`);
    const lags = [...bench.sim.jobs.keys()].map((id) => {
      const seen = bench.firstDownloadAt.get(id);
      if (seen === undefined) throw new Error(`job ${id} was never downloaded`);
      return seen - bench.completedAt(id);
    });
    const polls = bench.requests.filter((r) => POLL_ROUTES.has(r.route)).length;
    return { lags, requestsPerJob: polls / LAG_JOBS };
  } finally {
    await server.close();
    await bench.close();
    await dirs.close();
  }
}

/** Poll requests per second while `jobs` jobs are all in flight. */
async function pollRate(jobs: number): Promise<number> {
  const bench = await benchSimulator({ queuedMs: 500, processingMs: SCALE_JOB_MS - 500 });
  const dirs = await tempDirs('scale');
  const server = await connect(BIN, productEnv(dirs.root, bench.url));
  try {
    const started = Date.now();
    const calls = Array.from({ length: jobs }, (_, i) =>
      server.client.callTool(generate(`scale test ${i}`), undefined, { timeout: 120_000 }),
    );
    await until(() => bench.sim.jobs.size === jobs);
    await sleep(Math.max(0, started + WINDOW.toMs - Date.now()));
    const from = started + WINDOW.fromMs;
    const to = started + WINDOW.toMs;
    const polls = bench.requests.filter((r) => POLL_ROUTES.has(r.route) && r.at >= from && r.at < to).length;
    await Promise.all(calls);
    return polls / ((to - from) / 1000);
  } finally {
    await server.close();
    await bench.close();
    await dirs.close();
  }
}

export async function completionLag(): Promise<Row[]> {
  const { lags, requestsPerJob } = await lag();
  const p50 = percentile(lags, 50);
  const p95 = percentile(lags, 95);
  progress(
    `lag: p50 ${round(p50, 0)} ms, p95 ${round(p95, 0)} ms, ${round(requestsPerJob, 1)} poll requests a job`,
  );
  const [one, many] = [await pollRate(1), await pollRate(SCALE_JOBS)];
  progress(`polling: ${round(one, 2)} req/s for 1 job, ${round(many, 2)} req/s for ${SCALE_JOBS}`);
  const growth = many / one;
  return [
    {
      figure: '4',
      metric: `completion lag p50 (${LAG_JOBS} jobs of 3-9 s, download excluded)`,
      product: round(p50 / 1000, 2),
      unit: 's',
      target: '',
      met: undefined,
    },
    {
      figure: '4',
      metric: 'completion lag p95',
      product: round(p95 / 1000, 2),
      unit: 's',
      target: '< 2.5 s',
      met: p95 < 2_500,
    },
    {
      figure: '4',
      metric: 'poll requests per job (same run)',
      product: round(requestsPerJob, 1),
      unit: 'requests',
      target: '',
      met: undefined,
    },
    {
      figure: '4',
      metric: `poll requests/s, ${SCALE_JOBS} jobs in flight vs 1 job`,
      product: round(many, 2),
      floor: round(one, 2),
      ratio: round(growth, 1),
      unit: 'req/s',
      target: `growth <= ${SCALE_JOBS / 5}x for ${SCALE_JOBS}x the jobs`,
      met: growth <= SCALE_JOBS / 5,
    },
  ];
}
