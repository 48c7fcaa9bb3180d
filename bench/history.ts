/**
 * 7. Cost with history (issue 11): the same built server on an empty ledger and on one with 100,000 jobs of history,
 * measured side by side (alternated call by call), then on 1,000,000. Each history is seeded through the ledger's own
 * API (reserve, markSubmitted, updateJob: every job a transaction, as the product makes it), a batch of jobs per
 * transaction and `synchronous = OFF` for the seeding alone, since nothing depends on its durability.
 *
 * Figures: cold start to the first budget-aware answer (spawn, initialize, estimate_cost with a monthly budget), then
 * in a running server estimate_cost p50, generate_video submit p50 (wait_seconds 0), list_videos p50, and RSS after
 * start.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { WireSeedanceParams, wireBody } from '../src/domain/params.js';
import { estimate } from '../src/domain/pricing.js';
import { requestHash } from '../src/domain/request-hash.js';
import { LEDGER_FILE, openSqliteLedger } from '../src/ledger/index.js';
import {
  BIN,
  benchSimulator,
  type Connected,
  connect,
  MB,
  median,
  memoryOf,
  percentile,
  productEnv,
  progress,
  type Row,
  round,
  tempDirs,
} from './lib.js';

const COLD_RUNS = 7;
const CALLS = 200;
const SUBMITS = 100;
const BATCH = 5_000;
const BUDGET = { SEEDANCE_BUDGET_CREDITS: '100000000', SEEDANCE_BUDGET_PERIOD: 'month' };
/** History spread over the last three years, so that about 1/36 of it falls in the current month. */
const SPREAD_MS = 3 * 365 * 24 * 3600_000;

/** Seeds `jobs` completed jobs through the ledger's API, spread over the past; returns the seconds it took. */
async function seed(stateDir: string, jobs: number): Promise<number> {
  const started = performance.now();
  const end = Date.now() - 60_000;
  let at = end - SPREAD_MS;
  const step = SPREAD_MS / Math.max(1, jobs);
  const ledger = openSqliteLedger(join(stateDir, LEDGER_FILE), {
    budgetLimit: null,
    period: 'month',
    now: () => new Date(at),
    owner: `1@seed`,
    pragmas: { synchronous: 'OFF' },
  });
  const params = WireSeedanceParams.parse({ duration: 5, resolution: '720p' });
  const price = estimate(params);
  const one = async (i: number) => {
    at += step;
    const body = wireBody({ prompt: `history ${i}: a lighthouse in a storm, waves breaking`, params });
    const outcome = await ledger.reserve({
      requestHash: requestHash(body),
      request: body,
      estimate: price,
      newJob: true,
    });
    if (outcome.kind !== 'reserved') throw new Error(`seeding: ${outcome.kind}`);
    const jobId = randomUUID();
    await ledger.markSubmitted(outcome.record.key, jobId);
    await ledger.updateJob(jobId, {
      status: 'COMPLETED',
      progress: 100,
      creditCost: price.credits,
      result: { videoUrl: `https://cdn.example/${jobId}.mp4`, lastFrameUrl: null, raw: {} },
    });
  };
  // The same calls the product makes, a batch of them per transaction: one commit per call would write each job's
  // pages three times over.
  for (let i = 0; i < jobs; i += BATCH) {
    await ledger.inOneTransaction(async () => {
      for (let j = i; j < Math.min(jobs, i + BATCH); j++) await one(j);
    });
    if (i > 0 && i % 100_000 === 0) progress(`history: seeded ${i} jobs`);
  }
  await ledger.close();
  return (performance.now() - started) / 1000;
}

async function timed(server: Connected, name: string, args: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const result = await server.client.callTool({ name, arguments: args });
  const elapsed = performance.now() - started;
  if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return elapsed;
}

interface Ledgered {
  label: string;
  jobs: number;
  env: Record<string, string>;
}

interface Figures {
  coldMs: number;
  estimateMs: number;
  submitMs: number;
  listMs: number;
  rssMb: number;
}

/** Cold starts alternated between the ledgers, then one running server per ledger, called in turn. */
async function measure(ledgers: Ledgered[]): Promise<Figures[]> {
  const cold: number[][] = ledgers.map(() => []);
  const rss: number[][] = ledgers.map(() => []);
  for (let run = 0; run < COLD_RUNS; run++) {
    for (const [i, l] of ledgers.entries()) {
      const started = performance.now();
      const server = await connect(BIN, l.env);
      await timed(server, 'estimate_cost', { duration: 5 });
      cold[i]?.push(performance.now() - started);
      rss[i]?.push((await memoryOf(server.pid)).rss / MB);
      await server.close();
    }
  }
  const servers = await Promise.all(ledgers.map((l) => connect(BIN, l.env)));
  try {
    for (const server of servers) await server.client.listTools();
    const estimates: number[][] = ledgers.map(() => []);
    const lists: number[][] = ledgers.map(() => []);
    const submits: number[][] = ledgers.map(() => []);
    // Submissions first, so that list_videos has a full first page on the empty ledger too.
    for (let call = 0; call < SUBMITS; call++) {
      for (const [i, server] of servers.entries()) {
        const prompt = `bench ${call} on ${ledgers[i]?.label}: a lighthouse in a storm`;
        submits[i]?.push(await timed(server, 'generate_video', { prompt, duration: 4, wait_seconds: 0 }));
      }
    }
    for (let call = 0; call < CALLS; call++) {
      for (const [i, server] of servers.entries()) {
        estimates[i]?.push(await timed(server, 'estimate_cost', { duration: 5 }));
        lists[i]?.push(await timed(server, 'list_videos', {}));
      }
    }
    return ledgers.map((_, i) => ({
      coldMs: median(cold[i] ?? []),
      estimateMs: percentile(estimates[i] ?? [], 50),
      submitMs: percentile(submits[i] ?? [], 50),
      listMs: percentile(lists[i] ?? [], 50),
      rssMb: median(rss[i] ?? []),
    }));
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

const FIGURES: { key: keyof Figures; metric: string; unit: string; digits: number }[] = [
  { key: 'coldMs', metric: 'cold start to the first budget-aware answer (median)', unit: 'ms', digits: 1 },
  { key: 'estimateMs', metric: 'estimate_cost p50, monthly budget', unit: 'ms', digits: 3 },
  { key: 'submitMs', metric: 'generate_video submit p50 (wait_seconds 0)', unit: 'ms', digits: 2 },
  { key: 'listMs', metric: 'list_videos p50', unit: 'ms', digits: 3 },
  { key: 'rssMb', metric: 'RSS after start (median)', unit: 'MB', digits: 1 },
];

export async function history(sizes: { compared: number; large: number }): Promise<Row[]> {
  // Submissions are answered at once and render for good: the figures are the ledger's, not the job feed's.
  const bench = await benchSimulator({ queuedMs: 0, processingMs: 3_600_000 });
  const dirs = await tempDirs('history');
  try {
    const make = async (label: string, jobs: number): Promise<Ledgered> => {
      const root = join(dirs.root, label);
      const env = productEnv(root, bench.url, BUDGET);
      const seconds = await seed(env.SEEDANCE_STATE_DIR, jobs);
      progress(`history: ${jobs} jobs seeded in ${round(seconds, 1)} s`);
      return { label, jobs, env };
    };
    const empty = await make('empty', 0);
    const compared = await make('compared', sizes.compared);
    const [e, c] = await measure([empty, compared]);
    const large = await make('large', sizes.large);
    const [l] = await measure([large]);
    if (e === undefined || c === undefined || l === undefined) throw new Error('history: missing figures');
    const rows: Row[] = [];
    for (const f of FIGURES) {
      const ratio = c[f.key] / e[f.key];
      rows.push({
        figure: '7',
        metric: `${f.metric}: ${sizes.compared.toLocaleString('en')} jobs (floor: empty ledger)`,
        product: round(c[f.key], f.digits),
        floor: round(e[f.key], f.digits),
        ratio: round(ratio),
        unit: f.unit,
        target: '<= 1.2x floor',
        met: ratio <= 1.2,
      });
    }
    for (const f of FIGURES) {
      rows.push({
        figure: '7',
        metric: `${f.metric}: ${sizes.large.toLocaleString('en')} jobs`,
        product: round(l[f.key], f.digits),
        unit: f.unit,
        target: '',
        met: undefined,
      });
    }
    progress(
      `history: ${FIGURES.map((f) => `${f.key} ${round(e[f.key], 2)} / ${round(c[f.key], 2)} / ${round(l[f.key], 2)}`).join('; ')}`,
    );
    return rows;
  } finally {
    await dirs.close();
    await bench.close();
  }
}
