/**
 * The ledger's promises with real processes: built servers over stdio sharing one state folder, killed with SIGKILL
 * at the worst moments, racing for one budget. The simulator stands in for Apiframe and counts what was created.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { openSqliteLedger } from '../src/ledger/index.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import type { Simulator } from '../src/simulator/server.js';
import { startHarness, structuredOf, textOf } from './helpers/mcp.js';
import { TEST_KEY, useSimulator } from './helpers/simulator.js';
import { BIN, kill9, type Launch, PLAIN, type Running, useStdioServers } from './helpers/stdio-server.js';
import { useTempDirs } from './helpers/temp.js';
import { waitUntil } from './helpers/wait.js';

const tempDir = useTempDirs();
const startServer = useStdioServers('process-test');

function sharedHome(): Promise<string> {
  return tempDir('seedance-proc-');
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

  it('a server killed between the POST and its answer: the restart sends it again with the same key, the retry attaches, one job exists upstream', async () => {
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

    // The restart takes the unanswered submission over and sends it again by itself, with its own key; the agent's
    // repeat then attaches to the job that POST got, and pays nothing.
    const second = await startServer(sim, home);
    await waitUntil(() => sim.exchangesFor('submit').some((e) => e.status === 202));
    const retried = structuredOf<VideoOutput>(
      await second.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    expect(retried.submission).toBe('attached');
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

/** The digest of the video as the simulator serves it for this job (asked last: it adds a file request). */
async function servedSha256(found: VideoOutput): Promise<string> {
  const response = await fetch(found.remote_url ?? '', { headers: { authorization: `Bearer ${TEST_KEY}` } });
  return sha256(Buffer.from(await response.arrayBuffer()));
}

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
    expect(sim.exchangesFor('submit')).toHaveLength(1);
    expect(sim.exchangesFor('file').filter((e) => e.status === 200)).toHaveLength(1);
    expect(sim.jobCount).toBe(1);
    expect(100_000 - sim.credits).toBe(20);
    expect(sha256(await readFile(found.video?.path ?? ''))).toBe(await servedSha256(found));
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
    expect(sim.jobCount).toBe(1);
    expect(100_000 - sim.credits).toBe(20);
    expect(sha256(await readFile(found.video?.path ?? ''))).toBe(await servedSha256(found));
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
    expect(await readdir(out)).toEqual([found.video?.path.split('/').pop()]);
    expect(sim.exchangesFor('file')).toHaveLength(2);
    expect(sim.jobCount).toBe(1);
    expect(found.budget).toMatchObject({ spent: 20, reserved: 0, remaining: 80 });
    expect(sha256(await readFile(found.video?.path ?? ''))).toBe(await servedSha256(found));
  });
});

/**
 * The unshare(1) flags that give a process mounts of its own on this machine: as root a mount namespace (CI runs as
 * root), otherwise a user namespace with one; undefined where neither is allowed.
 */
function privateMounts(): string[] | undefined {
  for (const flags of [['-m'], ['-r', '-m']]) {
    if (spawnSync('unshare', [...flags, 'true']).status === 0) return flags;
  }
  return undefined;
}

/** The server started after `script` prepares `dir` in a mount namespace of its own ($1: dir; $0: node; $2: binary). */
function inPrivateMount(flags: string[], script: string, dir: string): Launch {
  return {
    command: 'unshare',
    args: [...flags, 'sh', '-c', `${script} && exec "$0" "$2"`, process.execPath, dir, BIN],
  };
}

/** Writes zeros until the file system says it is full. */
async function fillUp(path: string): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024);
  const { open } = await import('node:fs/promises');
  const file = await open(path, 'w');
  try {
    for (;;) await file.write(chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await file.close();
  }
}

/**
 * Where no private mount is allowed, the same promise through a seam: SQLite's own cap on the file's pages makes a
 * commit fail with SQLITE_FULL exactly as a full disk does, in a server built in-process around that ledger.
 */
async function diskFullWithoutMounts(): Promise<void> {
  const dir = await sharedHome();
  const path = join(dir, 'ledger.db');
  const options = { budgetLimit: 100_000, period: 'total' as const };
  const setUp = openSqliteLedger(path, options);
  await setUp.budget();
  await setUp.close();
  const { DatabaseSync } = await import('node:sqlite');
  const db = new DatabaseSync(path);
  const pages = Number((db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
  db.close();
  const h = await startHarness({
    ledger: openSqliteLedger(path, { ...options, pragmas: { max_page_count: pages } }),
  });
  try {
    let accepted = 0;
    let refused: CallToolResult | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const result = await h.call('generate_video', {
        ...VIDEO,
        prompt: `${VIDEO.prompt} ${i}`,
        wait_seconds: 0,
      });
      if (result.isError) refused = result;
      else accepted++;
    }
    expect(textOf(refused ?? { content: [] })).toMatch(/Error \(ledger_write_failed\): .* is full/);
    expect(h.sim.jobCount).toBe(accepted);
  } finally {
    await h.close();
  }
}

describe('a ledger that cannot be used or written: the server starts, prices, and spends nothing', () => {
  const env = useSimulator({ queuedMs: 0, processingMs: 600_000, assetProcessingMs: 0 });
  const BUDGET = { SEEDANCE_BUDGET_CREDITS: '100' };

  /** estimate_cost answers (naming the problem), every spending tool answers the typed error, nothing goes upstream. */
  async function expectNamed(server: Running, sim: Simulator, problem: RegExp): Promise<void> {
    const estimate = await server.call('estimate_cost', { duration: 5 });
    expect(estimate.isError).toBeFalsy();
    expect(textOf(estimate)).toMatch(/This video costs 20 credits/);
    expect(textOf(estimate)).toMatch(problem);
    for (const [tool, args] of [
      ['generate_video', { ...VIDEO, wait_seconds: 0 }],
      ['list_videos', {}],
      ['get_video', { job_id: '0b6f3f4e-8a4e-4c3a-9d61-2f0c8e1a7b55' }],
    ] as const) {
      const result = await server.call(tool, args);
      expect(result.isError, tool).toBe(true);
      expect(textOf(result), tool).toMatch(/Error \(ledger_unavailable\): The spend ledger cannot be used/);
      expect(textOf(result), tool).toMatch(problem);
      expect(textOf(result), tool).toMatch(/What to do: Nothing was submitted or charged\./);
    }
    expect(sim.jobCount).toBe(0);
  }

  it.each([
    ['is a folder', async (path: string) => mkdir(path), /is a folder/],
    [
      'is a dangling link',
      async (path: string) => symlink(`${path}.gone`, path),
      /symbolic link to something that does not exist/,
    ],
    ['is not a database', async (path: string) => writeFile(path, 'x'.repeat(4096)), /not a SQLite database/],
  ])('ledger.db %s: named', async (_what, damage, problem) => {
    const sim = await env.start();
    const home = await sharedHome();
    await mkdir(join(home, 'state'));
    await damage(join(home, 'state', 'ledger.db'));
    await expectNamed(await startServer(sim, home, BUDGET), sim, problem);
  });

  it('ledger.db of a newer seedance-mcp (a later schema version): named, with the update to make', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const first = await startServer(sim, home, BUDGET);
    await first.call('estimate_cost', { duration: 5 });
    await first.client.close();
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(join(home, 'state', 'ledger.db'));
    db.exec('PRAGMA user_version = 99');
    db.close();
    await expectNamed(
      await startServer(sim, home, BUDGET),
      sim,
      /schema version 99, written by a newer seedance-mcp/,
    );
  });

  it('a read-only state folder: named', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const state = join(home, 'state');
    const first = await startServer(sim, home, BUDGET);
    await first.call('estimate_cost', { duration: 5 });
    await first.client.close();
    const flags = process.getuid?.() === 0 ? privateMounts() : undefined;
    // root writes through file modes: a read-only mount of its own, as a read-only disk would be.
    const launch =
      flags === undefined
        ? PLAIN
        : inPrivateMount(flags, 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1"', state);
    if (flags === undefined) await chmod(state, 0o500);
    try {
      await expectNamed(await startServer(sim, home, BUDGET, launch), sim, /read-only/);
    } finally {
      await chmod(state, 0o700);
    }
  });

  it('the disk fills up: the reservation fails to commit, so nothing is sent; once space is freed the same call goes through', async () => {
    const sim = await env.start();
    const home = await sharedHome();
    const state = join(home, 'state');
    await mkdir(state);
    const flags = privateMounts();
    if (flags === undefined) return diskFullWithoutMounts();
    const server = await startServer(
      sim,
      home,
      BUDGET,
      inPrivateMount(flags, 'mount -t tmpfs -o size=1m tmpfs "$1"', state),
    );
    const estimate = structuredOf<{ budget: { remaining: number } }>(
      await server.call('estimate_cost', { duration: 5 }),
    );
    expect(estimate.budget.remaining).toBe(100);
    // The server's own view of the state folder: its tmpfs, in its mount namespace.
    const filler = `/proc/${server.transport.pid}/root${state}/filler`;
    await fillUp(filler);
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = await server.call('generate_video', { ...VIDEO, wait_seconds: 0 });
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toMatch(/Error \(ledger_write_failed\): .*the disk holding .* is full/);
      expect(textOf(refused)).toMatch(/Nothing was submitted or charged/);
    }
    expect(sim.jobCount).toBe(0);
    await rm(filler);
    const submitted = structuredOf<VideoOutput>(
      await server.call('generate_video', { ...VIDEO, wait_seconds: 0 }),
    );
    expect(submitted).toMatchObject({ submission: 'submitted', budget: { reserved: 20, remaining: 80 } });
    expect(sim.jobCount).toBe(1);
  });
});
