/**
 * The ledger's rules, held for every store: memory (simulation), the file (the product) and PostgreSQL (several
 * hosts; a database of its own per ledger, on the run's real server). File-only properties follow: reopening, a torn
 * last record, a stale lock, several ledgers on one folder. PostgreSQL's own are in ledger-postgres.test.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WireSeedanceParams, wireBody } from '../src/domain/params.js';
import { estimate } from '../src/domain/pricing.js';
import { requestHash } from '../src/domain/request-hash.js';
import { createMemoryLedger, LEDGER_FILE, openFileLedger } from '../src/ledger/index.js';
import { openPostgresLedger } from '../src/ledger/postgres-store.js';
import type {
  DownloadedFile,
  JobUpdate,
  Ledger,
  LedgerOptions,
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
  ['file', async (options, dir) => openFileLedger(dir ?? (await tempDir()), options)],
  ['postgres', async (options) => openPostgresLedger(await freshDatabase(), options)],
];

describe.each(stores)('%s ledger', (_name, openStore) => {
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
    // Claims of other owners are held by the file-store tests below, where two ledgers share a folder.
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

  it('finds jobs left in flight by a dead owner, and not those of a live one', async () => {
    const ledger = await open({ owner: '7@host', isOwnerAlive: (owner) => owner !== '7@host' });
    const r = await ledger.reserve(request('orphan'));
    const s = await ledger.reserve(request('unsent'));
    if (r.kind !== 'reserved' || s.kind !== 'reserved') throw new Error('expected reservations');
    await ledger.markSubmitted(r.record.key, 'job-1');
    expect((await ledger.orphans()).map((o) => o.jobId)).toEqual(['job-1']);
    await ledger.updateJob('job-1', completed());
    expect(await ledger.orphans()).toEqual([]);
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
});

describe('file ledger on disk', () => {
  const options: LedgerOptions = { budgetLimit: 100, period: 'total' };

  it('keeps every record across a reopen', async () => {
    const dir = await tempDir();
    const a = await openFileLedger(dir, options);
    const r = await a.reserve(request('durable'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await a.markSubmitted(r.record.key, 'job-1');
    await a.updateJob('job-1', completed(20));
    await a.close();
    const b = await openFileLedger(dir, options);
    ledgers.push(b);
    expect(await b.findByJobId('job-1')).toMatchObject({
      status: 'COMPLETED',
      charged: 20,
      key: r.record.key,
    });
    expect(await b.budget()).toMatchObject({ spent: 20, remaining: 80 });
  });

  it('reads a file cut mid-record with every complete record intact, and cuts the torn tail on the next write', async () => {
    const dir = await tempDir();
    const a = await openFileLedger(dir, options);
    for (const prompt of ['one', 'two', 'three']) await a.reserve(request(prompt));
    await a.close();
    const path = join(dir, LEDGER_FILE);
    const whole = await readFile(path, 'utf8');
    const lines = whole.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    // Cut the last record in half: what a kill -9 in the middle of a write leaves.
    const last = lines[2] ?? '';
    await writeFile(path, `${lines.slice(0, 2).join('\n')}\n${last.slice(0, Math.floor(last.length / 2))}`);

    const b = await openFileLedger(dir, options);
    ledgers.push(b);
    const page = await b.list({ limit: 10 });
    expect(page.records.map((r) => r.request.prompt).sort()).toEqual(['one', 'two']);
    await b.reserve(request('four'));
    const repaired = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(repaired).toHaveLength(3);
    for (const line of repaired) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('skips an unreadable line in the middle and keeps the rest', async () => {
    const dir = await tempDir();
    const a = await openFileLedger(dir, options);
    await a.reserve(request('before'));
    await appendFile(
      join(dir, LEDGER_FILE),
      '{"v":1,"type":"reserved","record":\n{"v":99,"type":"reserved"}\n',
    );
    await a.reserve(request('after'));
    await a.close();
    const b = await openFileLedger(dir, options);
    ledgers.push(b);
    expect((await b.list({ limit: 10 })).records.map((r) => r.request.prompt).sort()).toEqual([
      'after',
      'before',
    ]);
  });

  it('breaks a lock left by a process that is gone', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'ledger.lock'),
      JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), nonce: 'x' }),
    );
    const ledger = await openFileLedger(dir, options);
    ledgers.push(ledger);
    expect((await ledger.reserve(request('after a crash'))).kind).toBe('reserved');
  });

  it('shares one budget between ledgers on one folder: of many racing reservations exactly the affordable ones pass', async () => {
    const dir = await tempDir();
    const shared = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        openFileLedger(dir, { ...options, owner: `${n}@host`, isOwnerAlive: () => true }),
      ),
    );
    ledgers.push(...shared);
    const outcomes = await Promise.all(
      shared.flatMap((ledger, n) => [0, 1, 2].map((i) => ledger.reserve(request(`ledger ${n} video ${i}`)))),
    );
    expect(outcomes.filter((o) => o.kind === 'reserved')).toHaveLength(5);
    expect(outcomes.filter((o) => o.kind === 'over_budget')).toHaveLength(7);
    expect(await shared[0]?.budget()).toMatchObject({ reserved: 100, remaining: 0 });
  });

  it('lets only one of two ledgers on one folder download a job; the other sees it busy, then done', async () => {
    const dir = await tempDir();
    const [one, two] = await Promise.all(
      ['1@host', '2@host'].map((owner) =>
        openFileLedger(dir, { ...options, owner, isOwnerAlive: () => true }),
      ),
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

  it('takes over a download claim whose owner died or whose lease ran out', async () => {
    const dir = await tempDir();
    const time = clock();
    const alive = new Set(['1@host', '2@host']);
    const common = {
      ...options,
      now: time.now,
      downloadLeaseMs: 60_000,
      isOwnerAlive: (o: string) => alive.has(o),
    };
    const one = await openFileLedger(dir, { ...common, owner: '1@host' });
    const two = await openFileLedger(dir, { ...common, owner: '2@host' });
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
});

describe('file ledger shared by real processes', () => {
  const WORKER = new URL('./helpers/ledger-worker.ts', import.meta.url).pathname;

  function worker(dir: string, name: string, count: number) {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, dir, '50', name, String(count)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines: string[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== '')));
    return { child, lines, exited: once(child, 'exit') };
  }

  it('four processes racing for 50 credits reserve exactly 50, even with a fifth killed mid-write', async () => {
    const dir = await tempDir();
    const victim = worker(dir, 'victim', 1000);
    const racers = ['a', 'b', 'c', 'd'].map((name) => worker(dir, name, 30));
    // Kill the victim while it is busy writing: somewhere inside a reservation, a lock or an append.
    await new Promise<void>((resolve) => victim.child.stdout.once('data', () => resolve()));
    victim.child.kill('SIGKILL');
    await Promise.all([victim.exited, ...racers.map((r) => r.exited)]);

    const ledger = await openFileLedger(dir, { budgetLimit: 50, period: 'total' });
    ledgers.push(ledger);
    const records = (await ledger.list({ limit: 1000 })).records;
    const printed = racers.flatMap((r) => r.lines);
    expect(printed).toHaveLength(120);
    expect(records).toHaveLength(50);
    expect(await ledger.budget()).toMatchObject({ reserved: 50, remaining: 0 });
    expect(printed.filter((l) => l === 'reserved').length).toBeLessThanOrEqual(50);
    expect(printed.every((l) => l === 'reserved' || l === 'over_budget')).toBe(true);
    const lines = (await readFile(join(dir, LEDGER_FILE), 'utf8')).split('\n').filter((l) => l !== '');
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });
});
