/**
 * What the SQLite ledger guarantees beyond the rules (test/ledger.test.ts): its schema and migrations, the
 * constraints that keep a bad amount out even of a hand-written row, a damaged store named instead of crashed on,
 * a file replaced or removed under a running server, and real processes racing on one file (killed mid-write, or with
 * a clock an hour ahead).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerUnavailableError, LedgerWriteError } from '../src/core/errors.js';
import { WireSeedanceParams, wireBody } from '../src/domain/params.js';
import { estimate } from '../src/domain/pricing.js';
import { requestHash } from '../src/domain/request-hash.js';
import { LEDGER_FILE, LedgerSchemaTooNewError, openSqliteLedger } from '../src/ledger/index.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/ledger/schema.js';
import type { Ledger, LedgerOptions, ReserveRequest } from '../src/ledger/types.js';

const dirs: string[] = [];
const ledgers: Ledger[] = [];

afterEach(async () => {
  await Promise.all(ledgers.splice(0).map((l) => l.close()));
  for (const dir of dirs.splice(0)) {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'seedance-sqlite-'));
  dirs.push(dir);
  return dir;
}

const options: LedgerOptions = { budgetLimit: 100, period: 'total' };

function open(path: string, extra: Partial<LedgerOptions> = {}): Ledger {
  const ledger = openSqliteLedger(path, { ...options, ...extra });
  ledgers.push(ledger);
  return ledger;
}

function request(prompt: string): ReserveRequest {
  const params = WireSeedanceParams.parse({ duration: 5, resolution: '720p' });
  const body = wireBody({ prompt, params });
  return { requestHash: requestHash(body), request: body, estimate: estimate(params), newJob: false };
}

/** A raw connection, as the sqlite3 shell or another program would write. */
function raw(path: string): DatabaseSync {
  return new DatabaseSync(path);
}

describe('SQLite ledger schema', () => {
  it('takes a new, empty database (version 0) to the current version, with its tables and totals', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    const empty = raw(path);
    empty.exec('PRAGMA journal_mode = WAL');
    expect(empty.prepare('PRAGMA user_version').get()).toEqual({ user_version: 0 });
    empty.close();
    const ledger = open(path);
    expect((await ledger.reserve(request('first'))).kind).toBe('reserved');
    const db = raw(path);
    expect(db.prepare('PRAGMA user_version').get()).toEqual({ user_version: SCHEMA_VERSION });
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => r.name);
    expect(tables).toEqual(['budget_totals', 'download_claims', 'downloads', 'jobs', 'tasks', 'uploads']);
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.close();
  });

  it('refuses, by name, a database of a newer schema version, and changes nothing in it', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    await open(path).budget();
    const db = raw(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const ledger = open(path);
    const error = await ledger.reserve(request('refused')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerSchemaTooNewError);
    expect((error as LedgerSchemaTooNewError).code).toBe('ledger_unavailable');
    expect((error as Error).message).toMatch(`schema version ${SCHEMA_VERSION + 1}`);
    expect((error as LedgerSchemaTooNewError).recovery).toMatch(/Update seedance-mcp/);
    expect(await ledger.health()).toMatchObject({ ok: false, problem: expect.stringMatching(/newer/) });
    const after = raw(path);
    expect(after.prepare('SELECT count(*) AS n FROM jobs').get()).toEqual({ n: 0 });
    after.close();
  });

  it("refuses another program's SQLite database rather than write into it", async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    const other = raw(path);
    other.exec('CREATE TABLE notes (text TEXT)');
    other.close();
    const health = await open(path).health();
    expect(health).toMatchObject({ ok: false, problem: expect.stringMatching(/not a seedance-mcp ledger/) });
  });

  it('keeps a bad amount out even of a row written by hand: negative, fractional, text, an unknown status', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    const ledger = open(path);
    const r = await ledger.reserve(request('counted'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.markSubmitted(r.record.key, 'job-1');
    const db = raw(path);
    const change = (set: string) => () => db.exec(`UPDATE jobs SET ${set} WHERE job_id = 'job-1'`);
    for (const set of [
      "charged = 'abc'",
      'charged = -100000',
      'charged = 1.5',
      "status = 'PAID'",
      'progress = 150',
      "status = 'COMPLETED', estimate_credits = NULL",
      "created_at = 'yesterday'",
    ]) {
      expect(change(set), set).toThrow(/constraint|cannot store|never change/i);
    }
    expect(() =>
      db.exec("UPDATE budget_totals SET spent = -5 WHERE scope = 'server' AND period = 'total'"),
    ).toThrow(/constraint/i);
    db.close();
    expect(await ledger.budget()).toMatchObject({ spent: 0, reserved: 20, remaining: 80 });
  });
});

describe('a damaged SQLite ledger is named, not crashed on', () => {
  async function expectNamed(ledger: Ledger, problem: RegExp): Promise<void> {
    const health = await ledger.health();
    expect(health).toMatchObject({ ok: false, problem: expect.stringMatching(problem) });
    if (!health.ok) expect(health.fix.length).toBeGreaterThan(10);
    const error = await ledger.reserve(request('refused')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    expect((error as Error).message).toMatch(problem);
    await expect(ledger.budget()).rejects.toBeInstanceOf(LedgerUnavailableError);
    await expect(ledger.list({ limit: 5 })).rejects.toBeInstanceOf(LedgerUnavailableError);
  }

  it('ledger.db is a folder: named; once moved away, the same ledger works without a restart', async () => {
    const dir = await tempDir();
    const path = join(dir, LEDGER_FILE);
    await mkdir(path);
    const ledger = open(path);
    await expectNamed(ledger, /is a folder/);
    await rm(path, { recursive: true });
    expect((await ledger.reserve(request('after the fix'))).kind).toBe('reserved');
  });

  it('ledger.db is a dangling symbolic link: named', async () => {
    const dir = await tempDir();
    const path = join(dir, LEDGER_FILE);
    await symlink(join(dir, 'gone', 'ledger.db'), path);
    await expectNamed(open(path), /symbolic link to something that does not exist/);
  });

  it('ledger.db is not a database (damaged, or another file): named, and left as it was', async () => {
    const dir = await tempDir();
    const path = join(dir, LEDGER_FILE);
    await writeFile(path, '{"v":1,"type":"reserved"}\n'.repeat(200));
    await expectNamed(open(path), /not a SQLite database/);
  });

  it('a SQLite file damaged inside: named', async () => {
    const dir = await tempDir();
    const path = join(dir, LEDGER_FILE);
    const ledger = open(path);
    await ledger.reserve(request('before the damage'));
    await ledger.close();
    const db = raw(path);
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
    // Keep SQLite's header, scribble over the pages after it.
    const { open: openFile } = await import('node:fs/promises');
    const file = await openFile(path, 'r+');
    await file.write(Buffer.alloc(8192, 0x5a), 0, 8192, 100);
    await file.close();
    await expectNamed(open(path), /damaged|not a seedance-mcp ledger|malformed/);
  });
  // A read-only state folder: with the built server in test/processes.test.ts (as root, in a read-only mount).
});

describe('the SQLite ledger file replaced or removed under a running server', () => {
  it('a file replaced by a copy is reopened: every process decides on the file now at the path, none overspends', async () => {
    const dir = await tempDir();
    const path = join(dir, LEDGER_FILE);
    const before = open(path, { budgetLimit: 100 });
    await before.reserve(request('kept in the copy'));
    const copy = raw(path);
    copy.exec(`VACUUM INTO '${join(dir, 'copy.db')}'`);
    copy.close();
    await before.reserve(request('made after the copy'));
    await rename(join(dir, 'copy.db'), path);

    // A process started after the restore, and one that ran through it, race for what is left.
    const after = open(path, { budgetLimit: 100 });
    const start = await after.budget();
    const outcomes = await Promise.all(
      [before, after].flatMap((ledger, n) => [0, 1, 2].map((i) => ledger.reserve(request(`race ${n}.${i}`)))),
    );
    const won = outcomes.filter((o) => o.kind === 'reserved').length;
    // (How much of the old file's write-ahead log a copied-over file inherits is SQLite's business; see the README's
    // backup section. What matters: one file, one budget, never over it.)
    expect(start.reserved + won * 20).toBe(100);
    const fresh = open(path, { budgetLimit: 100 });
    expect(await fresh.budget()).toMatchObject({ reserved: 100, remaining: 0 });
    expect(await before.budget()).toEqual(await fresh.budget());
    expect((await fresh.list({ limit: 20 })).records).toHaveLength(5);
    const db = raw(path);
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.close();
  });

  it('a removed file is refused, not silently replaced by an empty one (which would forget what was spent)', async () => {
    const dir = await tempDir();
    const path = join(dir, LEDGER_FILE);
    const ledger = open(path);
    await ledger.reserve(request('spent'));
    await rm(path);
    const error = await ledger.reserve(request('after removal')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LedgerUnavailableError);
    expect((error as Error).message).toMatch(/was removed while this server ran/);
  });
});

describe('a full disk under the SQLite ledger', () => {
  // The real thing, a small tmpfs, with the built server: test/processes.test.ts.
  it('a commit that cannot be written is a typed error, and leaves the ledger as it was', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    // SQLite's own cap on the file's pages: a write that needs one more page fails exactly as on a full disk.
    const first = open(path);
    await first.budget();
    const db = raw(path);
    const pages = Number((db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
    db.close();
    const capped = openSqliteLedger(path, { ...options, pragmas: { max_page_count: pages } });
    ledgers.push(capped);
    let reserved = 0;
    let error: unknown;
    for (let i = 0; i < 200 && error === undefined; i++) {
      try {
        if ((await capped.reserve(request(`video ${i} ${'x'.repeat(400)}`))).kind === 'reserved') reserved++;
      } catch (e) {
        error = e;
      }
    }
    expect(error).toBeInstanceOf(LedgerWriteError);
    expect((error as LedgerWriteError).code).toBe('ledger_write_failed');
    expect((error as Error).message).toMatch(/full/);
    expect((await first.list({ limit: 1000 })).records).toHaveLength(reserved);
    expect(await first.budget()).toMatchObject({ reserved: Math.min(100, reserved * 20) });
  });
});

describe('SQLite ledger shared by real processes', () => {
  const WORKER = new URL('./helpers/ledger-worker.ts', import.meta.url).pathname;

  function worker(path: string, name: string, count: number, clockOffsetMs = 0) {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', WORKER, path, '50', name, String(count), String(clockOffsetMs)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines: string[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== '')));
    return { child, lines, exited: once(child, 'exit') };
  }

  async function expectExactly50(path: string, printed: string[]): Promise<void> {
    const ledger = open(path, { budgetLimit: 50 });
    expect((await ledger.list({ limit: 1000 })).records).toHaveLength(50);
    expect(await ledger.budget()).toMatchObject({ reserved: 50, remaining: 0 });
    expect(printed.filter((l) => l === 'reserved').length).toBeLessThanOrEqual(50);
    expect(printed.every((l) => l === 'reserved' || l === 'over_budget')).toBe(true);
    const db = raw(path);
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.close();
  }

  it('four processes racing for 50 credits reserve exactly 50, even with a fifth killed mid-write', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    const victim = worker(path, 'victim', 1000);
    const racers = ['a', 'b', 'c', 'd'].map((name) => worker(path, name, 30));
    // Kill the victim while it is busy writing: somewhere inside a transaction.
    await new Promise<void>((resolve) => victim.child.stdout.once('data', () => resolve()));
    victim.child.kill('SIGKILL');
    await Promise.all([victim.exited, ...racers.map((r) => r.exited)]);
    const printed = racers.flatMap((r) => r.lines);
    expect(printed).toHaveLength(120);
    await expectExactly50(path, printed);
  });

  it('one process of four with its clock an hour ahead: still exactly 50 reserved, none overspent', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    const racers = [0, 0, 0, 3600_000].map((offset, n) => worker(path, `p${n}`, 30, offset));
    await Promise.all(racers.map((r) => r.exited));
    const printed = racers.flatMap((r) => r.lines);
    expect(printed).toHaveLength(120);
    await expectExactly50(path, printed);
  });
});

describe('SQLite ledger cost does not grow with history', () => {
  it('every statement the ledger prepares finds its rows through an index: no scan of the jobs table that grows with it', async () => {
    const path = join(await tempDir(), LEDGER_FILE);
    const ledger = open(path, { budgetLimit: 1_000 });
    const member = { name: 'alice', budgetLimit: 500, period: 'month' as const };
    // One of everything the product does: each call prepares its statements on the ledger's connection.
    const r = await ledger.reserve(request('every path'));
    if (r.kind !== 'reserved') throw new Error('expected a reservation');
    await ledger.reserve(request('every path'));
    await ledger.reserve({ ...request('a member'), member, key: 'k-1' });
    await ledger.markSubmitted(r.record.key, 'job-1');
    await ledger.updateJob('job-1', { status: 'COMPLETED', progress: 100, creditCost: 20 });
    await ledger.claimDownload('job-1');
    await ledger.recordDownload('job-1', [
      { kind: 'video', path: '/v.mp4', bytes: 1, sha256: 'ab', url: 'https://cdn.example/v.mp4' },
    ]);
    await ledger.releaseDownload('job-1');
    await ledger.recordDiscovered('job-2', { status: 'QUEUED', progress: null, creditCost: null });
    await ledger.markRejected(r.record.key, 'no');
    await ledger.findByJobId('job-1', 'alice');
    await ledger.findByKey(r.record.key);
    const first = await ledger.list({ limit: 1 });
    await ledger.list({ limit: 1, cursor: first.nextCursor ?? '', member: '', status: 'COMPLETED' });
    await ledger.list({ limit: 1, status: 'QUEUED' });
    await ledger.adoptOrphans();
    await ledger.budget(member);
    await ledger.putUpload({
      sha256: 'f',
      kind: 'image',
      bytes: 1,
      assetId: 'a',
      expiresAt: '2099-01-01T00:00:00.000Z',
    });
    await ledger.getUpload('f', 'image');
    // White-box on purpose: the statements are the ledger's own, read from its cache, so none can be left out.
    const cached = (ledger as unknown as { connection: { statements: Map<string, unknown> } }).connection
      .statements;
    const db = raw(path);
    const scans: string[] = [];
    for (const sql of cached.keys()) {
      for (const step of db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all()) {
        const detail = String(step.detail);
        // A whole-table scan grows with history; so does walking an index with no LIMIT to stop it. Walking an index
        // in the order asked for, up to a LIMIT (the newest page of list_videos), does not.
        const full = /^SCAN (j|jobs)$/.test(detail);
        const unbounded = /^SCAN (j|jobs) USING/.test(detail) && !/\bLIMIT\b/.test(sql);
        // The identical-request lookup (every generate_video) must narrow by request too, not walk the member's jobs.
        const wide =
          sql.includes('request_hash = ?') && /^SEARCH j /.test(detail) && !detail.includes('request_hash=?');
        if (full || unbounded || wide) scans.push(`${detail}: ${sql.replace(/\s+/g, ' ')}`);
      }
    }
    db.close();
    expect(cached.size).toBeGreaterThan(15);
    expect(scans).toEqual([]);
  });
});
