/**
 * The ledger's promises with real processes: built servers over stdio sharing one state folder, killed with SIGKILL
 * at the worst moments, racing for one budget. The simulator stands in for Apiframe and counts what was created.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/domain/params.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { SimulatedMedia } from '../src/simulator/media.js';
import type { Simulator } from '../src/simulator/server.js';
import { structuredOf, textOf } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { useTempDirs } from './helpers/temp.js';
import { waitUntil } from './helpers/wait.js';

const BIN = new URL('../dist/cli.js', import.meta.url).pathname;

interface Running {
  client: Client;
  transport: StdioClientTransport;
  closed: Promise<void>;
  call(name: string, args: Record<string, unknown>): Promise<CallToolResult>;
}

const tempDir = useTempDirs();
const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.client.close().catch(() => undefined)));
});

function sharedHome(): Promise<string> {
  return tempDir('seedance-proc-');
}

/** One server process, as a client would start it; every process of a test shares `home` (ledger, output). */
async function startServer(sim: Simulator, home: string, env: Record<string, string> = {}): Promise<Running> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BIN],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      APIFRAME_API_KEY: TEST_KEY,
      APIFRAME_BASE_URL: sim.url,
      SEEDANCE_OUTPUT_DIR: join(home, 'out'),
      SEEDANCE_STATE_DIR: join(home, 'state'),
      SEEDANCE_ALLOWED_DIRS: home,
      SEEDANCE_LOG_LEVEL: 'warn',
      ...env,
    },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'process-test', version: '1.0.0' });
  const closed = new Promise<void>((resolve) => {
    client.onclose = () => resolve();
  });
  await client.connect(transport);
  const server: Running = {
    client,
    transport,
    closed,
    call: async (name, args) => (await client.callTool({ name, arguments: args })) as CallToolResult,
  };
  running.push(server);
  return server;
}

async function kill9(server: Running): Promise<void> {
  const pid = server.transport.pid;
  if (pid === null) throw new Error('the server is not running');
  process.kill(pid, 'SIGKILL');
  await server.closed;
}

/** Resolves once the simulator has created `count` jobs: the moment a POST has been processed upstream. */
async function jobsCreated(sim: Simulator, count: number): Promise<void> {
  await waitUntil(() => sim.jobCount >= count, 25_000);
}

const VIDEO = { prompt: 'a lighthouse in a storm, waves breaking', duration: 5 };

describe('servers that die, restart and share one ledger', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 600_000, assetProcessingMs: 0 });

  it('a server killed between submission and completion: after restart the job is found, completes, is downloaded once and charged once', async () => {
    const sim = await env.start();
    const startingCredits = sim.credits;
    const home = await sharedHome();
    const first = await startServer(sim, home, { SEEDANCE_BUDGET_CREDITS: '100' });
    const submitted = structuredOf<VideoOutput>(
      await first.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    expect(submitted.status).toMatch(/queued|processing/);
    const jobId = submitted.job_id ?? '';
    await kill9(first);

    sim.forceJob(jobId, 'COMPLETED');
    const second = await startServer(sim, home, { SEEDANCE_BUDGET_CREDITS: '100' });
    const found = structuredOf<VideoOutput>(
      await second.call('get_video', { job_id: jobId, wait_seconds: 30 }),
    );
    expect(found).toMatchObject({ job_id: jobId, status: 'completed', cost: { charged_credits: 20 } });
    expect(found.video?.path.startsWith(join(home, 'out'))).toBe(true);
    expect(found.budget).toMatchObject({ spent: 20, reserved: 0, remaining: 80 });

    // Asked again, from a third process: the same file, nothing fetched or charged again.
    const third = await startServer(sim, home, { SEEDANCE_BUDGET_CREDITS: '100' });
    const again = structuredOf<VideoOutput>(await third.call('get_video', { job_id: jobId }));
    expect(again.video?.path).toBe(found.video?.path);
    const fetched = sim.exchangesFor('file').map((e) => e.path);
    expect(new Set(fetched).size).toBe(fetched.length);
    expect(await readdir(join(home, 'out'))).toHaveLength(fetched.length);
    expect(sim.jobCount).toBe(1);
    expect(startingCredits - sim.credits).toBe(20);
  });

  it('a server killed between the POST and its answer: the retry after restart sends the same key, and one job exists upstream', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    sim.addFault({ route: 'submit', kind: 'slow', delayMs: 60_000 });
    const first = await startServer(sim, home);
    const unanswered = first
      .call('generate_video', { ...VIDEO, wait_seconds: 0 })
      .catch((error: unknown) => error);
    await jobsCreated(sim, 1);
    await kill9(first);
    expect(await unanswered).toBeInstanceOf(Error);

    const second = await startServer(sim, home);
    const retried = structuredOf<VideoOutput>(
      await second.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    expect(retried.submission).toBe('resumed');
    const keys = sim.exchangesFor('submit').map((e) => e.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(sim.jobCount).toBe(1);
    expect(retried.job_id).toBe([...sim.jobs.keys()][0]);
  });

  it('two processes asking for the same completed job at once: one downloads it, both answer with the same file', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const [one, two] = await Promise.all([startServer(sim, home), startServer(sim, home)]);
    if (one === undefined || two === undefined) throw new Error('two servers expected');
    const submitted = structuredOf<VideoOutput>(
      await one.call('generate_video', { ...VIDEO, return_last_frame: true, wait_seconds: 0 }),
    );
    sim.forceJob(submitted.job_id ?? '', 'COMPLETED');
    const [a, b] = await Promise.all(
      [one, two].map(async (server) =>
        structuredOf<VideoOutput>(
          await server.call('get_video', { job_id: submitted.job_id, wait_seconds: 30 }),
        ),
      ),
    );
    expect(a?.status).toBe('completed');
    expect(b?.video?.path).toBe(a?.video?.path);
    expect(b?.last_frame?.path).toBe(a?.last_frame?.path);
    const fetched = sim.exchangesFor('file').map((e) => e.path);
    expect(fetched).toHaveLength(2);
    expect(new Set(fetched).size).toBe(2);
    expect((await readdir(join(home, 'out'))).sort()).toHaveLength(2);
  });

  it('four processes racing for a budget that fits exactly three videos submit exactly three, and every refusal says why', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const servers = await Promise.all(
      [0, 1, 2, 3].map(() => startServer(sim, home, { SEEDANCE_BUDGET_CREDITS: '60' })),
    );
    const results = await Promise.all(
      servers.flatMap((server, n) =>
        [0, 1].map((i) =>
          server.call('generate_video', { prompt: `race ${n}.${i}`, duration: 5, wait_seconds: 0 }),
        ),
      ),
    );
    const accepted = results.filter((r) => !r.isError);
    const refused = results.filter((r) => r.isError);
    expect(accepted).toHaveLength(3);
    expect(refused).toHaveLength(5);
    for (const refusal of refused) {
      expect(textOf(refusal)).toMatch(
        /costs 20 credits but only \d+ of the 60 credit budget \(total\) remain/,
      );
    }
    expect(sim.jobCount).toBe(3);
    const last = servers[3];
    if (last === undefined) throw new Error('four servers expected');
    const estimate = structuredOf<{ budget: { spent: number; reserved: number; remaining: number } }>(
      await last.call('estimate_cost', { duration: 5 }),
    );
    expect(estimate.budget).toMatchObject({ spent: 0, reserved: 60, remaining: 0 });
  });

  it('an identical request repeated from another process while the first renders attaches to it; new_job pays for a second', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const budget = { SEEDANCE_BUDGET_CREDITS: '100' };
    const [one, two] = await Promise.all([startServer(sim, home, budget), startServer(sim, home, budget)]);
    if (one === undefined || two === undefined) throw new Error('two servers expected');
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
    const fresh = structuredOf<VideoOutput>(
      await two.call('generate_video', { ...VIDEO, wait_seconds: 0, new_job: true }),
    );
    expect(fresh.submission).toBe('submitted');
    expect(fresh.job_id).not.toBe(first.job_id);
    expect(sim.jobCount).toBe(2);
    expect(fresh.budget).toMatchObject({ spent: 0, reserved: 40, remaining: 60 });
  });
});

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('work interrupted by a shutdown or a crash is finished by the next process', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 600_000, assetProcessingMs: 0 });
  const budget = { SEEDANCE_BUDGET_CREDITS: '100' };

  it('stdin closed while the submission POST is unanswered: the job id is recorded before exit, and the next process finishes it, charged once', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    sim.addFault({ route: 'submit', kind: 'slow', delayMs: 1_000 });
    const first = await startServer(sim, home, budget);
    const cutOff = first.call('generate_video', { ...VIDEO, wait_seconds: 30 }).catch((e: unknown) => e);
    await jobsCreated(sim, 1);
    await first.client.close();
    await cutOff;
    const jobId = [...sim.jobs.keys()][0] ?? '';

    sim.forceJob(jobId, 'COMPLETED');
    const second = await startServer(sim, home, budget);
    const listed = structuredOf<{ videos: { job_id: string | null; status: string }[] }>(
      await second.call('list_videos', {}),
    );
    expect(listed.videos.map((v) => v.job_id)).toEqual([jobId]);
    // Taken over on start: downloaded without anybody asking.
    await waitUntil(async () =>
      (await readdir(join(home, 'out')).catch(() => [])).some((f) => f.endsWith('.mp4')),
    );
    const found = structuredOf<VideoOutput>(
      await second.call('get_video', { job_id: jobId, wait_seconds: 30 }),
    );
    expect(found).toMatchObject({ status: 'completed', cost: { charged_credits: 20 } });
    expect(found.budget).toMatchObject({ spent: 20, reserved: 0, remaining: 80 });
    expect(sha256(await readFile(found.video?.path ?? ''))).toBe(
      sha256(await new SimulatedMedia().video(DEFAULTS.aspect_ratio, VIDEO.duration)),
    );
    expect(sim.exchangesFor('submit')).toHaveLength(1);
    expect(sim.exchangesFor('file').filter((e) => e.status === 200)).toHaveLength(1);
    expect(sim.jobCount).toBe(1);
    expect(100_000 - sim.credits).toBe(20);
  });

  it('SIGTERM while the POST stays unanswered past the shutdown wait: the call says how to find the job, and the next process resumes it', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    sim.addFault({ route: 'submit', kind: 'slow', delayMs: 60_000 });
    const first = await startServer(sim, home, budget);
    const cutOff = first.call('generate_video', { ...VIDEO, wait_seconds: 30 });
    await jobsCreated(sim, 1);
    process.kill(first.transport.pid ?? 0, 'SIGTERM');
    const answer = await cutOff;
    await first.closed;
    expect(answer.isError).toBe(true);
    expect(textOf(answer)).toMatch(
      /shutting_down.*idempotency key.*resumes it by itself.*generate_video again with the same arguments/s,
    );

    const second = await startServer(sim, home, budget);
    await waitUntil(() => sim.exchangesFor('submit').some((e) => e.status === 202));
    const keys = sim.exchangesFor('submit').map((e) => e.idempotencyKey);
    expect(keys).toEqual([keys[0], keys[0]]);
    const listed = async () =>
      structuredOf<{ videos: { job_id: string | null }[] }>(await second.call('list_videos', {})).videos;
    await waitUntil(async () => (await listed())[0]?.job_id != null);
    const again = structuredOf<VideoOutput>(
      await second.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    expect(again.job_id).toBe([...sim.jobs.keys()][0]);
    expect(again.cost.new_charge).toBe(false);
    expect(sim.jobCount).toBe(1);
    expect(again.budget).toMatchObject({ reserved: 20, remaining: 80 });
  });

  it('a server killed while its POST is unanswered: the next process sends it again by itself with the same key, and one job is paid', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    sim.addFault({ route: 'submit', kind: 'slow', delayMs: 60_000 });
    const first = await startServer(sim, home, budget);
    const unanswered = first.call('generate_video', { ...VIDEO, wait_seconds: 0 }).catch((e: unknown) => e);
    await jobsCreated(sim, 1);
    await kill9(first);
    await unanswered;

    const second = await startServer(sim, home, budget);
    await waitUntil(() => sim.exchangesFor('submit').some((e) => e.status === 202));
    const keys = sim.exchangesFor('submit').map((e) => e.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    const jobId = [...sim.jobs.keys()][0] ?? '';
    sim.forceJob(jobId, 'COMPLETED');
    const found = structuredOf<VideoOutput>(
      await second.call('get_video', { job_id: jobId, wait_seconds: 30 }),
    );
    expect(found).toMatchObject({ status: 'completed', cost: { charged_credits: 20 } });
    expect(found.budget).toMatchObject({ spent: 20, reserved: 0, remaining: 80 });
    expect(found.video?.bytes).toBe(
      (await new SimulatedMedia().video(DEFAULTS.aspect_ratio, VIDEO.duration)).length,
    );
    expect(sim.jobCount).toBe(1);
    expect(100_000 - sim.credits).toBe(20);
  });

  it('SIGTERM during a download: the call is answered naming the job, no .part file stays, and the next process downloads it once', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const out = join(home, 'out');
    const first = await startServer(sim, home, budget);
    const submitted = structuredOf<VideoOutput>(
      await first.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    const jobId = submitted.job_id ?? '';
    sim.addFault({ route: 'file', kind: 'stall', delayMs: 60_000 });
    sim.forceJob(jobId, 'COMPLETED');
    const cutOff = first.call('get_video', { job_id: jobId, wait_seconds: 30 });
    await waitUntil(async () => (await readdir(out).catch(() => [])).some((f) => f.endsWith('.part')));
    process.kill(first.transport.pid ?? 0, 'SIGTERM');
    const answer = await cutOff;
    await first.closed;
    expect(textOf(answer)).toContain(jobId);
    expect(structuredOf<VideoOutput>(answer)).toMatchObject({
      job_id: jobId,
      status: 'completed',
      video: null,
    });
    expect(await readdir(out)).toEqual([]);

    const second = await startServer(sim, home, budget);
    await waitUntil(async () => (await readdir(out)).some((f) => f.endsWith('.mp4')));
    const found = structuredOf<VideoOutput>(
      await second.call('get_video', { job_id: jobId, wait_seconds: 30 }),
    );
    expect(found).toMatchObject({ status: 'completed', cost: { charged_credits: 20 } });
    expect(sha256(await readFile(found.video?.path ?? ''))).toBe(
      sha256(await new SimulatedMedia().video(DEFAULTS.aspect_ratio, VIDEO.duration)),
    );
    expect(await readdir(out)).toEqual([found.video?.path.split('/').pop()]);
    expect(sim.exchangesFor('file')).toHaveLength(2);
    expect(sim.jobCount).toBe(1);
    expect(found.budget).toMatchObject({ spent: 20, reserved: 0, remaining: 80 });
  });
});
