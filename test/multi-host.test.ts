/**
 * Several hosts, one ledger: built servers over stdio, each with a state folder and an output folder of its own,
 * all on one PostgreSQL database (SEEDANCE_LEDGER_URL) and one simulator standing in for Apiframe. They race for one
 * budget, attach to each other's requests, take over the jobs of a host killed with SIGKILL, and lose nothing when
 * the database restarts under them.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/app/config.js';
import { createServices, type Services } from '../src/app/services.js';
import { WireSeedanceParams } from '../src/domain/params.js';
import { estimate } from '../src/domain/pricing.js';
import { openPostgresLedger } from '../src/ledger/postgres-store.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import type { Simulator } from '../src/simulator/server.js';
import { FAST_SERVICES, structuredOf, textOf } from './helpers/mcp.js';
import { type PostgresServer, startPostgres, testDatabase } from './helpers/postgres.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { type Running, useStdioServers } from './helpers/stdio-server.js';
import { useTempDirs } from './helpers/temp.js';
import { waitUntil } from './helpers/wait.js';

/** The shortest host lease the settings allow: a killed host's jobs are taken over within seconds. */
const LEASE_SECONDS = '3';

const tempDir = useTempDirs();
const startServer = useStdioServers('multi-host-test');
const databases: { drop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(databases.splice(0).map((d) => d.drop()));
});

async function freshDatabase(): Promise<string> {
  const database = await testDatabase();
  databases.push(database);
  return database.url;
}

/** A host: a built server with a state and output folder of its own, on the shared PostgreSQL ledger. */
async function startHost(
  sim: Simulator,
  ledgerUrl: string,
  env: Record<string, string> = {},
): Promise<Running> {
  return startServer(sim, await tempDir('seedance-host-'), {
    SEEDANCE_LEDGER_URL: ledgerUrl,
    SEEDANCE_HOST_LEASE_SECONDS: LEASE_SECONDS,
    ...env,
  });
}

interface Row {
  job_id: string;
  status: string;
  charged: number | null;
  downloads: unknown[];
  owner: string;
}

/**
 * Resolves with the ledger's rows once `done` holds of them, looking again at every change a host announces (and,
 * for changes made before listening began, once at the start and at each announcement after).
 */
async function untilLedger(url: string, done: (rows: Row[]) => boolean): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // One look at a time, in order: each announcement is followed by a fresh read.
  let looking = Promise.resolve();
  try {
    return await new Promise<Row[]>((resolve, reject) => {
      const look = () => {
        looking = looking.then(async () => {
          const { rows } = await client.query<Row>(
            'SELECT job_id, status, charged::float8 AS charged, downloads, owner FROM seedance_jobs WHERE job_id IS NOT NULL ORDER BY job_id',
          );
          if (done(rows)) resolve(rows);
        }, reject);
      };
      client.on('notification', look);
      client.query('LISTEN seedance_job_changes').then(look, reject);
    });
  } finally {
    // An announcement that came with the last one must not read through a closed connection.
    client.removeAllListeners('notification');
    await looking.catch(() => {});
    await client.end();
  }
}

const VIDEO = { prompt: 'a lighthouse in a storm, waves breaking', duration: 5 };

describe('three hosts on one PostgreSQL ledger', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 600_000, assetProcessingMs: 0 });

  it('racing for a budget that fits exactly three videos, they submit exactly three', async () => {
    const sim = await env.start();
    const url = await freshDatabase();
    const three = await Promise.all(
      [0, 1, 2].map(() => startHost(sim, url, { SEEDANCE_BUDGET_CREDITS: '60' })),
    );
    const results = await Promise.all(
      three.flatMap((host, n) =>
        [0, 1, 2].map((i) =>
          host.call('generate_video', { prompt: `race ${n}.${i}`, duration: 5, wait_seconds: 0 }),
        ),
      ),
    );
    expect(results.filter((r) => !r.isError)).toHaveLength(3);
    const refused = results.filter((r) => r.isError);
    expect(refused).toHaveLength(6);
    for (const refusal of refused)
      expect(textOf(refusal)).toMatch(/of the 60 credit budget \(total\) remain/);
    expect(sim.jobCount).toBe(3);
    const estimate = structuredOf<{ budget: { reserved: number; remaining: number } }>(
      await (three[2] as Running).call('estimate_cost', { duration: 5 }),
    );
    expect(estimate.budget).toMatchObject({ reserved: 60, remaining: 0 });
  });

  it('an identical request on another host attaches to the job of the first', async () => {
    const sim = await env.start();
    const url = await freshDatabase();
    const [one, two] = await Promise.all([startHost(sim, url), startHost(sim, url)]);
    if (one === undefined || two === undefined) throw new Error('two hosts expected');
    const first = structuredOf<VideoOutput>(await one.call('generate_video', { ...VIDEO, wait_seconds: 0 }));
    const repeated = structuredOf<VideoOutput>(
      await two.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    expect(repeated).toMatchObject({
      job_id: first.job_id,
      submission: 'attached',
      cost: { new_charge: false },
    });
    expect(sim.jobCount).toBe(1);
  });

  it('a host killed with SIGKILL mid-job: another finishes, settles and downloads its job, once', async () => {
    const sim = await env.start();
    const url = await freshDatabase();
    const [doomed, ...others] = await Promise.all([0, 1, 2].map(() => startHost(sim, url)));
    if (doomed === undefined) throw new Error('three hosts expected');
    const submitted = structuredOf<VideoOutput>(
      await doomed.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    const jobId = submitted.job_id ?? '';
    const pid = doomed.transport.pid;
    if (pid === null) throw new Error('the host is not running');
    process.kill(pid, 'SIGKILL');
    await doomed.closed;
    sim.forceJob(jobId, 'COMPLETED');

    const [row] = await untilLedger(url, (rows) => rows.some((r) => r.downloads.length > 0));
    expect(row).toMatchObject({ job_id: jobId, status: 'COMPLETED', charged: 20 });
    expect(row?.owner).not.toMatch(new RegExp(`^${pid}@`));
    // Nobody asks again: the survivors did it on their own, and only one of them fetched the file.
    expect(sim.exchangesFor('file')).toHaveLength(1);
    expect(sim.jobCount).toBe(1);
    const seen = structuredOf<VideoOutput>(await (others[1] as Running).call('get_video', { job_id: jobId }));
    expect(seen).toMatchObject({ status: 'completed', cost: { charged_credits: 20 } });
    expect(sim.exchangesFor('file')).toHaveLength(1);
  });
});

describe('hosts on a PostgreSQL that restarts', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 600_000, assetProcessingMs: 0 });
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('a call while the database is down is refused and sends nothing; afterwards every job is finished once', async () => {
    const sim = await env.start();
    const [one, two] = await Promise.all([
      startHost(sim, server.url, { SEEDANCE_BUDGET_CREDITS: '100' }),
      startHost(sim, server.url, { SEEDANCE_BUDGET_CREDITS: '100' }),
    ]);
    if (one === undefined || two === undefined) throw new Error('two hosts expected');
    const jobs = await Promise.all(
      [one, two].map(async (host, n) =>
        structuredOf<VideoOutput>(
          await host.call('generate_video', {
            prompt: `before the restart ${n}`,
            duration: 5,
            wait_seconds: 0,
          }),
        ),
      ),
    );
    await server.halt();
    const refused = await one.call('generate_video', { prompt: 'while the database is down', duration: 5 });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/^Error \(ledger_unavailable\)/);
    expect(sim.jobCount).toBe(2);
    for (const job of jobs) sim.forceJob(job.job_id ?? '', 'COMPLETED');
    await server.start();

    const rows = await untilLedger(
      server.url,
      (found) => found.length === 2 && found.every((r) => r.downloads.length > 0),
    );
    expect(rows.map((r) => r.charged)).toEqual([20, 20]);
    expect(sim.exchangesFor('file')).toHaveLength(2);
    const again = await two.call('generate_video', {
      prompt: 'before the restart 0',
      duration: 5,
      wait_seconds: 0,
    });
    expect(structuredOf<VideoOutput>(again)).toMatchObject({
      submission: 'attached',
      job_id: jobs[0]?.job_id,
    });
    const estimate = structuredOf<{ budget: { spent: number; reserved: number } }>(
      await one.call('estimate_cost', { duration: 5 }),
    );
    expect(estimate.budget).toMatchObject({ spent: 40, reserved: 0 });
    expect(sim.jobCount).toBe(2);
  });
});

describe('one poller per job across hosts', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 600_000, assetProcessingMs: 0 });
  const opened: Services[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((services) => services.close()));
  });

  /** A host in this process: the product's services over a PostgreSQL ledger of its own pool. */
  async function host(sim: Simulator, url: string, owner: string): Promise<Services> {
    const home = await tempDir('seedance-host-');
    const config = loadConfig(
      { platform: process.platform, home, env: {} },
      {
        apiKey: TEST_KEY,
        baseUrl: sim.url,
        outputDir: join(home, 'out'),
        stateDir: join(home, 'state'),
        allowedDirs: [home],
        ledgerUrl: url,
      },
    );
    const ledger = await openPostgresLedger(url, { budgetLimit: null, period: 'total', owner });
    const services = await createServices(config, { ...FAST_SERVICES, ledger });
    opened.push(services);
    return services;
  }

  it('of three hosts waiting on one job, only the lease holder polls it upstream; the others hear of it from the ledger', async () => {
    const sim = await env.start();
    const url = await freshDatabase();
    const hosts = await Promise.all(['1@a', '2@b', '3@c'].map((owner) => host(sim, url, owner)));
    const params = WireSeedanceParams.parse({ duration: 5 });
    const [first] = hosts;
    if (first === undefined) throw new Error('three hosts expected');
    const { record } = await first.jobs.submit({
      model: 'seedance-2',
      prompt: 'followed by three hosts',
      params,
      estimate: estimate(params),
      newJob: false,
    });
    const jobId = record.jobId ?? '';
    const waits = hosts.map((h) => h.jobs.waitFor(jobId, 30_000, () => undefined));
    // Every host is following the job before it ends.
    for (const h of hosts) await waitUntil(() => h.jobs.feed.latest(jobId) !== undefined);
    sim.forceJob(jobId, 'COMPLETED');
    const outcomes = await Promise.all(waits);
    expect(outcomes.map((o) => o.job?.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    const upstream = hosts.map((h) => h.jobs.feed.polls);
    expect(upstream.filter((polls) => polls > 0)).toHaveLength(1);
    expect(sim.exchangesFor('job').length).toBe(Math.max(...upstream));
  });
});

/** Waits for a condition of this process's own state, a turn of the event loop at a time. */
