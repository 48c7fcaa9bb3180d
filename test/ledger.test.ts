/**
 * The ledger's rules, held for every store: SQLite in memory (simulation), SQLite on a file (the product) and
 * PostgreSQL (several hosts; a database of its own per ledger, on the run's real server), members and their budgets
 * included. File-only properties follow (test/ledger-sqlite.test.ts has the rest): reopening, several ledgers on one
 * file, download claims between processes. PostgreSQL's own are in test/ledger-postgres.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidCursorError, LedgerValueError } from '../src/core/errors.js';
import { WireSeedanceParams, wireBody } from '../src/domain/params.js';
import { estimate, PUBLISHED_RATES, reservation } from '../src/domain/pricing.js';
import { requestHash } from '../src/domain/request-hash.js';
import { createMemoryLedger, LEDGER_FILE, openSqliteLedger } from '../src/ledger/index.js';
import { openPostgresLedger } from '../src/ledger/postgres-store.js';
import type {
  DownloadedFile,
  JobUpdate,
  Ledger,
  LedgerOptions,
  MemberScope,
  NewTask,
  ReserveRequest,
} from '../src/ledger/types.js';
import { testDatabase } from './helpers/postgres.js';

const dirs: string[] = [];
const ledgers: Ledger[] = [];
const databases: { drop(): Promise<void> }[] = [];

afterEach(async () => {
  await Promise.all(ledgers.splice(0).map((l) => l.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  await Promise.all(databases.splice(0).map((d) => d.drop()));
});

async function freshDatabase(): Promise<string> {
  const database = await testDatabase();
  databases.push(database);
  return database.url;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'seedance-ledger-'));
  dirs.push(dir);
  return dir;
}

/** A controllable clock: tests move it instead of waiting. */
function clock(start = '2026-11-24T12:00:00.000Z') {
  let t = Date.parse(start);
  return {
    now: () => new Date(t),
    advance: (ms: number) => {
      t += ms;
    },
    set: (iso: string) => {
      t = Date.parse(iso);
    },
  };
}

function request(prompt: string, duration = 5, extra: Partial<ReserveRequest> = {}): ReserveRequest {
  const params = WireSeedanceParams.parse({ duration, resolution: '720p' });
  const body = wireBody({ prompt, params });
  return {
    requestHash: requestHash(body),
    request: body,
    estimate: estimate(params),
    newJob: false,
    ...extra,
  };
}

const completed = (creditCost: number | null = null): JobUpdate => ({
  status: 'COMPLETED',
  progress: 100,
  creditCost,
  result: { videoUrl: 'https://cdn.example/v.mp4', lastFrameUrl: null, raw: {} },
});
const processing = (progress = 40): JobUpdate => ({ status: 'PROCESSING', progress, creditCost: null });
const VIDEO_FILE: DownloadedFile = {
  kind: 'video',
  path: '/v.mp4',
  bytes: 10,
  sha256: 'ab',
  url: 'https://cdn.example/v.mp4',
};
const failed: JobUpdate = { status: 'FAILED', progress: null, creditCost: null, failure: 'content policy' };

type Open = (options: LedgerOptions, dir?: string) => Promise<Ledger>;

const stores: [string, Open][] = [
  ['memory', async (options) => createMemoryLedger(options)],
  [
    'sqlite file',
    async (options, dir) => openSqliteLedger(join(dir ?? (await tempDir()), LEDGER_FILE), options),
  ],
  ['postgres', async (options) => openPostgresLedger(await freshDatabase(), options)],
];

describe.each(stores)('%s ledger', (name, openStore) => {
  const open = async (options: Partial<LedgerOptions> = {}) => {
    const ledger = await openStore({ budgetLimit: null, period: 'total', ...options });
    ledgers.push(ledger);
    return ledger;
  };

  it('reserves within the budget, refuses past it with the figures, and settles at the cost charged', async () => {
    const ledger = await open({ budgetLimit: 50 });
    const first = await ledger.reserve(request('one'));
    expect(first.kind).toBe('reserved');
    expect(first.kind === 'reserved' && first.budget).toMatchObject({
      spent: 0,
      reserved: 20,
      remaining: 30,
    });
    if (first.kind !== 'reserved') return;
    await ledger.reserve(request('two'));
    const third = await ledger.reserve(request('three'));
    expect(third).toMatchObject({ kind: 'over_budget', needed: 20, budget: { reserved: 40, remaining: 10 } });

    await ledger.markSubmitted(first.record.key, 'job-1');
    const settled = await ledger.updateJob('job-1', completed(18));
    expect(settled).toMatchObject({ status: 'COMPLETED', charged: 18, refunded: false });
    expect(await ledger.budget()).toMatchObject({ spent: 18, reserved: 20, remaining: 12 });
  });

  it('releases the reservation of a FAILED job and of a rejected POST, and lets a rejected key try again', async () => {
    const ledger = await open({ budgetLimit: 40 });
    const a = await ledger.reserve(request('a'));
    const b = await ledger.reserve(request('b', 5, { key: 'agent-key-b' }));
    if (a.kind !== 'reserved' || b.kind !== 'reserved') throw new Error('expected reservations');
    await ledger.markSubmitted(a.record.key, 'job-a');
    const failure = await ledger.updateJob('job-a', failed);
    expect(failure).toMatchObject({
      status: 'FAILED',
      charged: 0,
      refunded: true,
      failure: 'content policy',
    });
    const rejected = await ledger.markRejected('agent-key-b', 'insufficient credits');
    expect(rejected.status).toBe('rejected');
    expect(await ledger.budget()).toMatchObject({ spent: 0, reserved: 0, remaining: 40 });
    const again = await ledger.reserve(request('b', 5, { key: 'agent-key-b' }));
    expect(again).toMatchObject({ kind: 'reserved', record: { key: 'agent-key-b', status: 'submitting' } });
  });

  it('attaches an identical request in flight or completed within 24 h; new_job reserves anew', async () => {
    const time = clock();
    const ledger = await open({ now: time.now });
    const first = await ledger.reserve(request('same'));
    if (first.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.markSubmitted(first.record.key, 'job-1');
    expect(await ledger.reserve(request('same'))).toMatchObject({
      kind: 'attached',
      record: { jobId: 'job-1' },
    });
    expect(await ledger.reserve(request('same', 5, { key: 'fresh-agent-key' }))).toMatchObject({
      kind: 'attached',
      record: { jobId: 'job-1' },
    });
    expect(await ledger.reserve(request('same', 6))).toMatchObject({ kind: 'reserved' });

    await ledger.updateJob('job-1', completed());
    time.advance(23 * 3600_000);
    expect(await ledger.reserve(request('same'))).toMatchObject({
      kind: 'attached',
      record: { jobId: 'job-1' },
    });
    time.advance(2 * 3600_000);
    expect(await ledger.reserve(request('same'))).toMatchObject({ kind: 'reserved' });
    expect(await ledger.reserve(request('same', 5, { newJob: true }))).toMatchObject({ kind: 'reserved' });
    expect((await ledger.list({ limit: 10 })).records).toHaveLength(4);
  });

  it('resumes a submission whose POST was never answered, under the same key', async () => {
    const ledger = await open({ owner: '1@elsewhere' });
    const first = await ledger.reserve(request('lost answer'));
    if (first.kind !== 'reserved') throw new Error('expected a reservation');
    const retry = await ledger.reserve(request('lost answer'));
    expect(retry).toMatchObject({ kind: 'resume', record: { key: first.record.key } });
    expect((await ledger.budget()).reserved).toBe(20);
  });

  it("refuses an agent's key reused for a different request", async () => {
    const ledger = await open();
    await ledger.reserve(request('one', 5, { key: 'k-1' }));
    expect(await ledger.reserve(request('two', 5, { key: 'k-1' }))).toMatchObject({
      kind: 'key_conflict',
      record: { key: 'k-1' },
    });
    expect(await ledger.reserve(request('one', 5, { key: 'k-1' }))).toMatchObject({ kind: 'resume' });
  });

  it('counts a day budget from 00:00 UTC and a month budget from the 1st', async () => {
    const time = clock('2026-11-24T23:30:00.000Z');
    const day = await open({ budgetLimit: 30, period: 'day', now: time.now });
    const month = await open({ budgetLimit: 30, period: 'month', now: time.now });
    for (const ledger of [day, month]) {
      const r = await ledger.reserve(request('late night'));
      if (r.kind !== 'reserved') throw new Error('expected a reservation');
      await ledger.markSubmitted(r.record.key, `job-${Math.random()}`);
    }
    time.set('2026-11-25T00:00:01.000Z');
    expect(await day.budget()).toMatchObject({
      periodStart: '2026-11-25T00:00:00.000Z',
      reserved: 0,
      remaining: 30,
    });
    expect(await month.budget()).toMatchObject({
      periodStart: '2026-11-01T00:00:00.000Z',
      reserved: 20,
      remaining: 10,
    });
  });

  it('never moves a job backwards and writes nothing for a poll that changes nothing', async () => {
    const ledger = await open();
    const r = await ledger.reserve(request('order'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.markSubmitted(r.record.key, 'job-1');
    await ledger.updateJob('job-1', processing(60));
    expect((await ledger.updateJob('job-1', processing(30))).progress).toBe(60);
    await ledger.updateJob('job-1', completed(20));
    const after = await ledger.updateJob('job-1', processing(10));
    expect(after).toMatchObject({ status: 'COMPLETED', charged: 20 });
    await expect(ledger.updateJob('no-such-job', processing())).rejects.toThrow(
      /no record of job no-such-job/,
    );
  });

  it('claims a completed download, releases it, and reports it done once recorded', async () => {
    const time = clock();
    const one = await open({ now: time.now, downloadLeaseMs: 60_000, owner: '1@host' });
    const r = await one.reserve(request('download'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await one.markSubmitted(r.record.key, 'job-1');
    await one.updateJob('job-1', completed());
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    // Claims of other owners are held by the file tests below, where two ledgers share a file.
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    await one.releaseDownload('job-1');
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    await one.recordDownload('job-1', [VIDEO_FILE]);
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'done', files: [VIDEO_FILE] });
  });

  it('lists newest first, pages with a cursor, filters by status, and refuses a forged cursor', async () => {
    const time = clock();
    const ledger = await open({ now: time.now });
    for (let i = 0; i < 5; i++) {
      const r = await ledger.reserve(request(`video ${i}`));
      if (r.kind !== 'reserved') throw new Error('expected a reservation');
      await ledger.markSubmitted(r.record.key, `job-${i}`);
      if (i % 2 === 0) await ledger.updateJob(`job-${i}`, completed());
      time.advance(1000);
    }
    const first = await ledger.list({ limit: 2 });
    expect(first.records.map((r) => r.jobId)).toEqual(['job-4', 'job-3']);
    const second = await ledger.list({ limit: 2, cursor: first.nextCursor ?? '' });
    expect(second.records.map((r) => r.jobId)).toEqual(['job-2', 'job-1']);
    const third = await ledger.list({ limit: 2, cursor: second.nextCursor ?? '' });
    expect(third).toMatchObject({ records: [{ jobId: 'job-0' }], nextCursor: null });
    const done = await ledger.list({ limit: 10, status: 'COMPLETED' });
    expect(done.records.map((r) => r.jobId)).toEqual(['job-4', 'job-2', 'job-0']);
    await expect(ledger.list({ limit: 2, cursor: 'not-a-cursor' })).rejects.toThrow(/cursor/);
  });

  it('never records a creditCost that is not money, keeps upstream anomalies once each, and the cap holds', async () => {
    const ledger = await open({ budgetLimit: 100 });
    const first = await ledger.reserve(request('one', 5));
    if (first.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.markSubmitted(first.record.key, 'job-1');
    for (const creditCost of [Number.NaN, -100_000, Number.POSITIVE_INFINITY]) {
      await expect(ledger.updateJob('job-1', { ...processing(50), creditCost })).rejects.toBeInstanceOf(
        LedgerValueError,
      );
    }
    const anomaly = 'Apiframe reported creditCost "NaN"';
    await ledger.updateJob('job-1', { ...processing(60), anomalies: [anomaly] });
    const settled = await ledger.updateJob('job-1', { ...completed(20), anomalies: [anomaly] });
    expect(settled).toMatchObject({ charged: 20, upstreamAnomalies: [anomaly] });
    expect(await ledger.budget()).toMatchObject({ spent: 20, reserved: 0, remaining: 80 });
    const big = await ledger.reserve(
      request('too big', 15, { estimate: { ...request('x').estimate, credits: 100 } }),
    );
    expect(big.kind).toBe('over_budget');
  });

  it('learns a rate per model and variant from completed charges only, with how many it rests on', async () => {
    const ledger = await open();
    expect(await ledger.learnedRates()).toEqual([]);
    const fastParams = WireSeedanceParams.parse({ duration: 5, resolution: '720p' });
    const fast = (prompt: string, maxCredits: number): ReserveRequest => {
      const body = wireBody({ model: 'seedance-2-fast', prompt, params: fastParams });
      return {
        requestHash: requestHash(body),
        request: body,
        estimate: reservation({ ...fastParams, model: 'seedance-2-fast' }, PUBLISHED_RATES, maxCredits),
        newJob: false,
      };
    };
    const settle = async (req: ReserveRequest, jobId: string, update: JobUpdate) => {
      const outcome = await ledger.reserve(req);
      if (outcome.kind !== 'reserved') throw new Error(`reserved expected, got ${outcome.kind}`);
      await ledger.markSubmitted(outcome.record.key, jobId);
      await ledger.updateJob(jobId, update);
    };
    await settle(fast('one', 40), 'job-f1', completed(15));
    await settle(fast('two', 40), 'job-f2', completed(16));
    // Neither a failed job nor one still running nor a discovered one teaches anything.
    await settle(fast('three', 40), 'job-f3', failed);
    await settle(fast('four', 40), 'job-f4', processing());
    await ledger.recordDiscovered('job-x', { ...completed(99), prompt: 'made elsewhere' });
    await settle(request('seedance-2'), 'job-s', completed(25));
    const rates = await ledger.learnedRates();
    expect(rates).toHaveLength(2);
    expect(rates).toContainEqual({
      model: 'seedance-2-fast',
      variant: '720p',
      creditsPerSecond: 3.1,
      charges: 2,
    });
    expect(rates).toContainEqual({ model: 'seedance-2', variant: '720p', creditsPerSecond: 5, charges: 1 });
  });

  it('records a job it did not submit without counting it against the budget', async () => {
    const ledger = await open({ budgetLimit: 100 });
    const found = await ledger.recordDiscovered('job-x', { ...processing(10), prompt: 'made elsewhere' });
    expect(found).toMatchObject({
      discovered: true,
      estimate: null,
      status: 'PROCESSING',
      request: { prompt: 'made elsewhere' },
    });
    await ledger.updateJob('job-x', completed(40));
    expect(await ledger.budget()).toMatchObject({ spent: 0, remaining: 100 });
    expect((await ledger.findByJobId('job-x'))?.charged).toBe(40);
  });

  it('keeps an upload cache entry until it expires', async () => {
    const time = clock();
    const ledger = await open({ now: time.now });
    const entry = {
      sha256: 'f'.repeat(64),
      kind: 'image' as const,
      bytes: 5,
      assetId: 'asset-1',
      expiresAt: '2026-11-24T13:00:00.000Z',
    };
    await ledger.putUpload(entry);
    expect(await ledger.getUpload(entry.sha256, 'image')).toEqual(entry);
    expect(await ledger.getUpload(entry.sha256, 'video')).toBeUndefined();
    time.advance(3600_000);
    expect(await ledger.getUpload(entry.sha256, 'image')).toBeUndefined();
  });

  it('is healthy when it can be used', async () => {
    const ledger = await open();
    expect(await ledger.health()).toMatchObject({
      ok: true,
      store: name === 'postgres' ? 'postgres' : 'sqlite',
    });
  });

  it("checks a member's own cap with the server-wide one: whichever is tighter refuses, and says which", async () => {
    const ledger = await open({ budgetLimit: 56 });
    const alice: MemberScope = { name: 'alice', budgetLimit: 30, period: 'total' };
    const bob: MemberScope = { name: 'bob', budgetLimit: null, period: 'total' };
    const a1 = await ledger.reserve(request('alice 1', 5, { member: alice }));
    expect(a1).toMatchObject({
      kind: 'reserved',
      record: { member: 'alice' },
      budget: { reserved: 20, remaining: 36 },
      memberBudget: { limit: 30, reserved: 20, remaining: 10 },
    });
    expect(await ledger.reserve(request('alice 2', 5, { member: alice }))).toMatchObject({
      kind: 'over_budget',
      scope: 'member',
      needed: 20,
      budget: { limit: 30, remaining: 10 },
    });
    expect(await ledger.reserve(request('bob 1', 5, { member: bob }))).toMatchObject({ kind: 'reserved' });
    expect(await ledger.reserve(request('bob 2', 5, { member: bob }))).toMatchObject({
      kind: 'over_budget',
      scope: 'server',
      budget: { limit: 56, reserved: 40, remaining: 16 },
    });
    // The machine's owner (no member) has only the server-wide cap.
    expect(await ledger.reserve(request('owner 1', 4))).toMatchObject({
      kind: 'reserved',
      memberBudget: null,
    });
    expect(await ledger.budget(alice)).toMatchObject({ limit: 30, spent: 0, reserved: 20, remaining: 10 });
    expect(await ledger.budget(bob)).toMatchObject({ limit: null, reserved: 20, remaining: null });
    expect(await ledger.budget()).toMatchObject({ limit: 56, reserved: 56, remaining: 0 });
  });

  it("attaches only to the same member's identical request, and keeps two members' equal keys apart", async () => {
    const ledger = await open();
    const alice: MemberScope = { name: 'alice', budgetLimit: null, period: 'total' };
    const bob: MemberScope = { name: 'bob', budgetLimit: null, period: 'total' };
    const a = await ledger.reserve(request('same words', 5, { member: alice }));
    if (a.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.markSubmitted(a.record.key, 'job-a');
    expect(await ledger.reserve(request('same words', 5, { member: alice }))).toMatchObject({
      kind: 'attached',
      record: { jobId: 'job-a' },
    });
    expect(await ledger.reserve(request('same words', 5, { member: bob }))).toMatchObject({
      kind: 'reserved',
      record: { member: 'bob' },
    });
    const ak = await ledger.reserve(request('keyed', 5, { member: alice, key: 'k-1' }));
    const bk = await ledger.reserve(request('other words', 5, { member: bob, key: 'k-1' }));
    if (ak.kind !== 'reserved' || bk.kind !== 'reserved') throw new Error('expected two reservations');
    expect(ak.record.key).not.toBe(bk.record.key);
    expect(ak.record.key.endsWith('k-1')).toBe(true);
    expect(ak.record.key.length).toBeLessThanOrEqual('k-1'.length + 20);
  });

  it('lists and finds a member its own jobs only', async () => {
    const ledger = await open();
    const alice: MemberScope = { name: 'alice', budgetLimit: null, period: 'total' };
    const a = await ledger.reserve(request('hers', 5, { member: alice }));
    const o = await ledger.reserve(request('mine'));
    if (a.kind !== 'reserved' || o.kind !== 'reserved') throw new Error('expected reservations');
    await ledger.markSubmitted(a.record.key, 'job-a');
    await ledger.markSubmitted(o.record.key, 'job-o');
    expect((await ledger.list({ limit: 10, member: 'alice' })).records.map((r) => r.jobId)).toEqual([
      'job-a',
    ]);
    expect((await ledger.list({ limit: 10, member: '' })).records.map((r) => r.jobId)).toEqual(['job-o']);
    expect((await ledger.list({ limit: 10 })).records).toHaveLength(2);
    expect(await ledger.findByJobId('job-o', 'alice')).toBeUndefined();
    expect(await ledger.findByJobId('job-a', 'alice')).toMatchObject({ member: 'alice' });
    expect(await ledger.recordDiscovered('job-z', processing(), 'alice')).toMatchObject({ member: 'alice' });
  });

  const task = (taskId: string, extra: Partial<NewTask> = {}): NewTask => ({
    taskId,
    member: '',
    tool: 'generate_video',
    jobId: `job-of-${taskId}`,
    submission: 'submitted',
    warnings: [],
    result: null,
    ttlMs: 60_000,
    ...extra,
  });

  it('keeps a task for its member alone, stamped by its clock, with its final answer and one cancel', async () => {
    const time = clock();
    const ledger = await open({ now: time.now });
    const answer = { content: [{ type: 'text', text: 'refused' }], isError: true };
    const made = await ledger.createTask(task('t-1', { warnings: ['said once'] }));
    expect(made).toEqual({
      ...task('t-1', { warnings: ['said once'] }),
      createdAt: '2026-11-24T12:00:00.000Z',
      cancelledAt: null,
      cancelMessage: null,
    });
    await ledger.createTask(task('t-2', { member: 'alice', jobId: null, result: answer }));
    expect(await ledger.getTask('t-1', '')).toEqual(made);
    expect(await ledger.getTask('t-1', 'alice')).toBeUndefined();
    expect(await ledger.getTask('t-2', '')).toBeUndefined();
    expect(await ledger.getTask('t-2', 'alice')).toMatchObject({ jobId: null, result: answer });
    expect(await ledger.getTask('never', '')).toBeUndefined();

    await ledger.storeTaskResult('t-1', '', { content: [], structuredContent: { done: true } });
    expect((await ledger.getTask('t-1', ''))?.result).toEqual({
      content: [],
      structuredContent: { done: true },
    });

    // Another member cannot cancel it; its member can, once, and the first message stays.
    expect(await ledger.cancelTask('t-1', 'alice', 'not yours')).toBe(false);
    time.advance(1_000);
    expect(await ledger.cancelTask('t-1', '', 'first')).toBe(true);
    expect(await ledger.cancelTask('t-1', '', 'second')).toBe(false);
    expect(await ledger.getTask('t-1', '')).toMatchObject({
      cancelledAt: '2026-11-24T12:00:01.000Z',
      cancelMessage: 'first',
    });
  });

  it("lists a member's live tasks newest first, page by page, and refuses a forged cursor", async () => {
    const time = clock();
    const ledger = await open({ now: time.now });
    // Several in one millisecond still list in the order they were made.
    for (const id of ['a', 'b', 'c', 'd', 'e']) await ledger.createTask(task(id));
    await ledger.createTask(task('hers', { member: 'alice' }));
    const first = await ledger.listTasks('', 2);
    expect(first.tasks.map((t) => t.taskId)).toEqual(['e', 'd']);
    const second = await ledger.listTasks('', 2, first.nextCursor ?? undefined);
    expect(second.tasks.map((t) => t.taskId)).toEqual(['c', 'b']);
    // A task made meanwhile does not move the pages already given.
    await ledger.createTask(task('f'));
    const third = await ledger.listTasks('', 2, second.nextCursor ?? undefined);
    expect(third).toEqual({ tasks: [expect.objectContaining({ taskId: 'a' })], nextCursor: null });
    expect((await ledger.listTasks('alice', 10)).tasks.map((t) => t.taskId)).toEqual(['hers']);
    expect(await ledger.listTasks('bob', 10)).toEqual({ tasks: [], nextCursor: null });
    for (const forged of ['nope', Buffer.from('["jobs",1]').toString('base64url')]) {
      await expect(ledger.listTasks('', 2, forged)).rejects.toBeInstanceOf(InvalidCursorError);
    }
  });

  it('forgets a task when its TTL runs out: not found, not listed, not cancellable, deleted by the next', async () => {
    const time = clock();
    const ledger = await open({ now: time.now });
    await ledger.createTask(task('short', { ttlMs: 1_000 }));
    await ledger.createTask(task('long', { ttlMs: 10_000 }));
    time.advance(999);
    expect(await ledger.getTask('short', '')).toMatchObject({ taskId: 'short' });
    time.advance(1);
    expect(await ledger.getTask('short', '')).toBeUndefined();
    expect((await ledger.listTasks('', 10)).tasks.map((t) => t.taskId)).toEqual(['long']);
    expect(await ledger.cancelTask('short', '', 'too late')).toBe(false);
    // Gone for good: a clock set back (another host's) does not bring it back once the next task was made.
    await ledger.createTask(task('next'));
    time.advance(-500);
    expect(await ledger.getTask('short', '')).toBeUndefined();
    expect(await ledger.getTask('long', '')).toMatchObject({ ttlMs: 10_000 });
  });

  it('refuses an amount that is negative, fractional or not a number, and the budget stays as it was', async () => {
    const ledger = await open({ budgetLimit: 100 });
    const r = await ledger.reserve(request('counted'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.markSubmitted(r.record.key, 'job-1');
    for (const creditCost of [
      -100_000,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      'abc' as unknown as number,
    ]) {
      await expect(ledger.updateJob('job-1', { ...processing(), creditCost })).rejects.toBeInstanceOf(
        LedgerValueError,
      );
    }
    const bad = request('bad estimate');
    for (const credits of [-1, 2.5, Number.NaN]) {
      await expect(ledger.reserve({ ...bad, estimate: { ...bad.estimate, credits } })).rejects.toBeInstanceOf(
        LedgerValueError,
      );
    }
    expect(await ledger.budget()).toMatchObject({ spent: 0, reserved: 20, remaining: 80 });
    expect((await ledger.findByJobId('job-1'))?.charged).toBeNull();
  });
});

describe('SQLite ledger on a file', () => {
  const options: LedgerOptions = { budgetLimit: 100, period: 'total' };
  const at = async () => join(await tempDir(), LEDGER_FILE);

  it('adopts the work of a dead owner in one transaction: unanswered POSTs, jobs in flight, completed jobs not downloaded', async () => {
    const time = clock();
    const dir = await tempDir();
    const open = async (more: Partial<LedgerOptions>) => {
      const ledger = openSqliteLedger(join(dir, LEDGER_FILE), { ...options, budgetLimit: null, ...more });
      ledgers.push(ledger);
      return ledger;
    };
    const dead = await open({ owner: '7@host', now: time.now });
    const unanswered = await dead.reserve(request('unanswered'));
    const inFlight = await dead.reserve(request('in flight'));
    const done = await dead.reserve(request('done, not saved'));
    const saved = await dead.reserve(request('done and saved'));
    const failedOne = await dead.reserve(request('failed'));
    const stale = await dead.reserve(request('done two days ago'));
    const records = [unanswered, inFlight, done, saved, failedOne, stale].map((r) => {
      if (r.kind !== 'reserved') throw new Error('expected reservations');
      return r.record;
    });
    const [, a, b, c, d, e] = records;
    if (a === undefined || b === undefined || c === undefined || d === undefined || e === undefined)
      throw new Error('six records expected');
    await dead.markSubmitted(e.key, 'job-stale');
    await dead.updateJob('job-stale', completed(20));
    time.advance(2 * 24 * 60 * 60 * 1000);
    await dead.markSubmitted(a.key, 'job-flight');
    await dead.markSubmitted(b.key, 'job-done');
    await dead.updateJob('job-done', completed(20));
    await dead.markSubmitted(c.key, 'job-saved');
    await dead.updateJob('job-saved', completed(20));
    await dead.recordDownload('job-saved', [VIDEO_FILE]);
    await dead.markSubmitted(d.key, 'job-failed');
    await dead.updateJob('job-failed', failed);

    time.advance(20 * 60 * 60 * 1000);
    const alive = (owner: string) => owner !== '7@host';
    const heir = await open({ owner: '8@host', isOwnerAlive: alive, now: time.now });
    const adopted = await heir.adoptOrphans();
    expect(adopted.map((r) => [r.request.prompt, r.status, r.jobId, r.owner])).toEqual([
      ['unanswered', 'submitting', null, '8@host'],
      ['in flight', 'QUEUED', 'job-flight', '8@host'],
      ['done, not saved', 'COMPLETED', 'job-done', '8@host'],
    ]);
    // The lease is the owner written in that transaction: a second heir starting now finds nothing left.
    const second = await open({ owner: '9@host', isOwnerAlive: alive, now: time.now });
    expect(await second.adoptOrphans()).toEqual([]);
    expect((await second.findByJobId('job-flight'))?.owner).toBe('8@host');
    // Work of a live owner is never taken.
    const bystander = await open({ owner: '10@host', isOwnerAlive: () => true, now: time.now });
    expect(await bystander.adoptOrphans()).toEqual([]);
    // Adopting does not make a job young again: 5 h later (25 h after it completed), with the heir dead too, its
    // result has expired upstream and it is not taken.
    time.advance(5 * 60 * 60 * 1000);
    const late = await open({ owner: '11@host', isOwnerAlive: (o) => o === '11@host', now: time.now });
    expect((await late.adoptOrphans()).map((r) => r.request.prompt)).toEqual(['unanswered', 'in flight']);
  });

  it('keeps every record across a reopen', async () => {
    const path = await at();
    const a = openSqliteLedger(path, options);
    const r = await a.reserve(request('durable'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await a.markSubmitted(r.record.key, 'job-1');
    await a.updateJob('job-1', completed(20));
    await a.close();
    const b = openSqliteLedger(path, options);
    ledgers.push(b);
    expect(await b.findByJobId('job-1')).toMatchObject({
      status: 'COMPLETED',
      charged: 20,
      key: r.record.key,
    });
    expect(await b.budget()).toMatchObject({ spent: 20, remaining: 80 });
  });

  it('shares one budget between ledgers on one file: of many racing reservations exactly the affordable ones pass', async () => {
    const path = await at();
    const shared = [1, 2, 3, 4].map((n) =>
      openSqliteLedger(path, { ...options, owner: `${n}@host`, isOwnerAlive: () => true }),
    );
    ledgers.push(...shared);
    const outcomes = await Promise.all(
      shared.flatMap((ledger, n) => [0, 1, 2].map((i) => ledger.reserve(request(`ledger ${n} video ${i}`)))),
    );
    expect(outcomes.filter((o) => o.kind === 'reserved')).toHaveLength(5);
    expect(outcomes.filter((o) => o.kind === 'over_budget')).toHaveLength(7);
    expect(await shared[0]?.budget()).toMatchObject({ reserved: 100, remaining: 0 });
  });

  it('lets only one of two ledgers on one file download a job; the other sees it busy, then done', async () => {
    const path = await at();
    const [one, two] = ['1@host', '2@host'].map((owner) =>
      openSqliteLedger(path, { ...options, owner, isOwnerAlive: () => true }),
    );
    if (one === undefined || two === undefined) throw new Error('two ledgers expected');
    ledgers.push(one, two);
    const r = await one.reserve(request('shared download'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await one.markSubmitted(r.record.key, 'job-1');
    await two.updateJob('job-1', completed());
    const claims = await Promise.all([one.claimDownload('job-1'), two.claimDownload('job-1')]);
    expect(claims.map((c) => c.kind).sort()).toEqual(['busy', 'claimed']);
    const winner = claims[0]?.kind === 'claimed' ? one : two;
    const loser = winner === one ? two : one;
    await winner.recordDownload('job-1', [VIDEO_FILE]);
    expect(await loser.claimDownload('job-1')).toEqual({ kind: 'done', files: [VIDEO_FILE] });
  });

  it("takes over another host's download claim when its owner died or its lease ran out", async () => {
    const path = await at();
    const time = clock();
    const alive = new Set(['1@host', '2@host']);
    const common = {
      ...options,
      now: time.now,
      downloadLeaseMs: 60_000,
      isOwnerAlive: (o: string) => alive.has(o),
    };
    const one = openSqliteLedger(path, { ...common, owner: '1@host' });
    const two = openSqliteLedger(path, { ...common, owner: '2@host' });
    ledgers.push(one, two);
    const r = await one.reserve(request('claimed then abandoned'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await one.markSubmitted(r.record.key, 'job-1');
    await one.updateJob('job-1', completed());
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    expect(await two.claimDownload('job-1')).toEqual({ kind: 'busy' });
    time.advance(61_000);
    expect(await two.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    alive.delete('2@host');
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'claimed' });
  });

  it("holds a live process of this host's download claim whatever the clocks say, and frees a dead one's", async () => {
    const path = await at();
    const host = (await import('node:os')).hostname();
    const holder = `${process.pid}@${host}`;
    const ahead = clock('2026-11-24T13:00:00.000Z');
    const one = openSqliteLedger(path, { ...options, owner: holder, downloadLeaseMs: 60_000 });
    // An hour ahead, and the claimant's lease long over by its clock: the claim still holds, its owner lives.
    const two = openSqliteLedger(path, { ...options, owner: `2@${host}`, now: ahead.now });
    ledgers.push(one, two);
    const r = await one.reserve(request('downloaded once'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await one.markSubmitted(r.record.key, 'job-1');
    await one.updateJob('job-1', completed());
    expect(await one.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    ahead.advance(24 * 3600_000);
    expect(await two.claimDownload('job-1')).toEqual({ kind: 'busy' });
    // A pid that is gone: its claim is free at once.
    const gone = openSqliteLedger(path, { ...options, owner: `${2 ** 22 + 12345}@${host}` });
    ledgers.push(gone);
    await one.releaseDownload('job-1');
    expect(await gone.claimDownload('job-1')).toEqual({ kind: 'claimed' });
    expect(await two.claimDownload('job-1')).toEqual({ kind: 'claimed' });
  });
});
