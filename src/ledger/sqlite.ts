/**
 * The ledger in SQLite (node:sqlite), shared by every server process of the user through one file, ledger.db in the
 * state folder; with the path `:memory:`, the same ledger held by one process alone (simulation, tests).
 *
 * - Every decision (reserve with its budget checks, attach, resume, settle, claim a download) is one
 *   `BEGIN IMMEDIATE` transaction: SQLite's write lock orders it against every other process, and a process that
 *   dies mid-way leaves nothing of it (WAL). Waiting for the lock is SQLite's busy timeout; no lock is ever judged by
 *   a clock.
 * - Durable before it answers: `synchronous = FULL`, so a reservation (and its idempotency key) is on disk before
 *   the POST is sent; a commit that fails (disk full, I/O error) throws, and nothing is sent.
 * - A damaged store is named, not crashed on: opening checks what is at the path (a folder, a dangling link, a file
 *   that is not SQLite, a schema of a newer seedance-mcp, a read-only folder) and every call answers
 *   LedgerUnavailableError with what is wrong and how to fix it; each call tries again, so a fix needs no restart.
 * - One file for everyone: each transaction checks that the path still names the file this connection has open
 *   (device and inode); a file replaced under a running server (restored from a copy) is reopened, a removed one
 *   refused, so that two processes never decide on two files.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  constants,
  accessSync as fsAccess,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { RESULT_RETENTION_MS } from '../apiframe/schemas.js';
import {
  LedgerBusyError,
  LedgerUnavailableError,
  LedgerValueError,
  LedgerWriteError,
  UnknownRecordError,
} from '../core/errors.js';
import { log } from '../core/log.js';
import { DEFAULT_MODEL } from '../domain/params.js';
import type { LearnedRate } from '../domain/pricing.js';
import {
  ATTACH_WINDOW_MS,
  applyJobUpdate,
  type ChargeSums,
  credits,
  currentOwner,
  DOWNLOAD_LEASE_MS,
  decodeCursor,
  decodeTaskCursor,
  encodeCursor,
  encodeTaskCursor,
  isLocalOwner,
  isProcessAlive,
  learnedRatesFrom,
  memberKey,
  newRecord,
  OPEN_STATUSES_SQL,
  periodKey,
  periodStart,
  taskExpiry,
} from './rules.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema.js';
import {
  type BudgetSnapshot,
  type DownloadClaim,
  type DownloadedFile,
  type JobRecord,
  type JobUpdate,
  type Ledger,
  type LedgerHealth,
  type LedgerOptions,
  LOCAL_MEMBER,
  type MemberScope,
  type NewTask,
  type ReserveOutcome,
  type TaskPage,
  type TaskRecord,
  type UploadCacheEntry,
} from './types.js';

export const LEDGER_FILE = 'ledger.db';
export const IN_MEMORY = ':memory:';

const DEFAULT_BUSY_TIMEOUT_MS = 10_000;
const SQLITE_HEADER = 'SQLite format 3\0';

export interface SqliteLedgerOptions extends LedgerOptions {
  /** How long a transaction waits for other processes' (SQLite's busy timeout; 10 s). */
  busyTimeoutMs?: number;
  /**
   * PRAGMAs set on the connection after the ledger's own, e.g. `{ max_page_count: n }` to cap the file's size, or
   * `{ synchronous: 'OFF' }` where durability does not matter (seeding a bench's history).
   */
  pragmas?: Record<string, string | number>;
}

/** A database of a newer seedance-mcp, named apart: the fix is an update, not a repair. */
export class LedgerSchemaTooNewError extends LedgerUnavailableError {}

interface Identity {
  dev: number;
  ino: number;
}

interface Connection {
  db: DatabaseSync;
  /** Of the file this connection opened; null in memory. */
  identity: Identity | null;
  statements: Map<string, StatementSync>;
}

type Row = Record<string, SQLInputValue>;

const SELECT_JOB = `SELECT j.*, (
  SELECT json_group_array(json_object('kind', kind, 'path', path, 'bytes', bytes, 'sha256', sha256, 'url', url))
  FROM (SELECT * FROM downloads d WHERE d.job_key = j.key ORDER BY kind DESC)
) AS files FROM jobs j`;

interface SqliteLedger extends Ledger {
  /**
   * Runs `work`, and every change it makes through this ledger, as one transaction instead of one each: for a caller
   * that has the ledger to itself and many changes to make (seeding a bench's history). Nothing else may use the
   * ledger meanwhile.
   */
  inOneTransaction<T>(work: () => Promise<T>): Promise<T>;
}

export function openSqliteLedger(path: string, options: SqliteLedgerOptions): SqliteLedger {
  return new SqliteStore(path, options);
}

class SqliteStore implements SqliteLedger {
  private connection: Connection | undefined;
  /** Set while inOneTransaction runs: each change joins that transaction. */
  private outer: Connection | undefined;
  /** Once this process has had the file, it never makes a new one in its place (a removed ledger is refused). */
  private hadFile = false;
  private closed = false;
  private readonly now: () => Date;
  private readonly owner: string;
  private readonly isOwnerAlive: (owner: string) => boolean;
  private readonly leaseMs: number;
  private readonly attachWindowMs: number;
  private readonly resultRetentionMs: number;
  private readonly makeKey: () => string;
  private readonly busyTimeoutMs: number;

  constructor(
    private readonly path: string,
    private readonly options: SqliteLedgerOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.owner = options.owner ?? currentOwner();
    this.isOwnerAlive = options.isOwnerAlive ?? isProcessAlive;
    this.leaseMs = options.downloadLeaseMs ?? DOWNLOAD_LEASE_MS;
    this.attachWindowMs = options.attachWindowMs ?? ATTACH_WINDOW_MS;
    this.resultRetentionMs = options.resultRetentionMs ?? RESULT_RETENTION_MS;
    this.makeKey = options.makeKey ?? (() => `seedance-mcp-${randomUUID()}`);
    this.busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    try {
      this.connect();
    } catch (error) {
      // Named on every call (and by health()) until it is fixed; the server still starts.
      if (!(error instanceof LedgerUnavailableError)) throw error;
      log.warn('ledger: cannot be used', { problem: error.problem });
    }
  }

  // ---- the Ledger interface -------------------------------------------------------------------------------------

  async reserve(request: Parameters<Ledger['reserve']>[0]): Promise<ReserveOutcome> {
    const needed = credits(request.estimate.credits, 'an estimate');
    const member: MemberScope = request.member ?? {
      name: LOCAL_MEMBER,
      budgetLimit: null,
      period: this.options.period,
    };
    const storedKey = request.key === undefined ? undefined : memberKey(member.name, request.key);
    return this.write((c) => {
      const now = this.now();
      const at = now.toISOString();
      const budgets = () => ({
        budget: this.snapshot(c, 'server', this.options.budgetLimit, this.options.period, now),
        memberBudget:
          request.member === undefined
            ? null
            : this.snapshot(c, `member:${member.name}`, member.budgetLimit, member.period, now),
      });
      // The agent's own key names one submission forever; without a known key, an identical live request of the same
      // member is the same one.
      const existing =
        (storedKey === undefined ? undefined : this.jobWhere(c, 'j.key = ?', [storedKey])) ??
        (request.newJob ? undefined : this.identical(c, member.name, request.requestHash, now));
      if (
        existing !== undefined &&
        (existing.requestHash !== request.requestHash || existing.member !== member.name)
      ) {
        return { kind: 'key_conflict', record: existing };
      }
      if (existing !== undefined && existing.status === 'submitting' && existing.jobId === null) {
        this.run(c, 'UPDATE jobs SET owner = ?, updated_at = ? WHERE key = ?', [
          this.owner,
          at,
          existing.key,
        ]);
        return { kind: 'resume', record: { ...existing, owner: this.owner, updatedAt: at }, ...budgets() };
      }
      if (existing !== undefined && existing.status !== 'rejected') {
        return { kind: 'attached', record: existing, ...budgets() };
      }
      // A new reservation, or a key whose earlier POST was refused: that one cost nothing, so it may be tried again.
      const before = budgets();
      if (before.budget.remaining !== null && needed > before.budget.remaining) {
        return { kind: 'over_budget', budget: before.budget, needed, scope: 'server' };
      }
      if (before.memberBudget?.remaining != null && needed > before.memberBudget.remaining) {
        return { kind: 'over_budget', budget: before.memberBudget, needed, scope: 'member' };
      }
      if (existing !== undefined) this.run(c, 'DELETE FROM jobs WHERE key = ?', [existing.key]);
      const record = newRecord({
        key: existing?.key ?? storedKey ?? this.makeKey(),
        member: member.name,
        requestHash: request.requestHash,
        request: request.request,
        estimate: request.estimate,
        owner: this.owner,
        jobId: null,
        status: 'submitting',
        discovered: false,
        at,
      });
      this.insert(c, record);
      return { kind: 'reserved', record, ...budgets() };
    });
  }

  async budget(member?: MemberScope): Promise<BudgetSnapshot> {
    return this.read((c) =>
      member === undefined
        ? this.snapshot(c, 'server', this.options.budgetLimit, this.options.period, this.now())
        : this.snapshot(c, `member:${member.name}`, member.budgetLimit, member.period, this.now()),
    );
  }

  async learnedRates(): Promise<LearnedRate[]> {
    return this.read((c) =>
      learnedRatesFrom(
        this.all(
          c,
          `SELECT json_extract(request, '$.model') AS model, json_extract(estimate, '$.variant') AS variant,
             sum(charged) AS charged, sum(json_extract(estimate, '$.duration')) AS seconds, count(*) AS charges
           FROM jobs
           WHERE discovered = 0 AND status = 'COMPLETED' AND charged > 0 AND estimate IS NOT NULL
           GROUP BY 1, 2`,
          [],
        ) as unknown as ChargeSums[],
      ),
    );
  }

  async health(): Promise<LedgerHealth> {
    const where = { store: 'sqlite', location: this.path };
    try {
      this.read((c) => this.get(c, 'SELECT count(*) AS n FROM budget_totals', []));
      return { ok: true, ...where };
    } catch (error) {
      if (error instanceof LedgerUnavailableError) {
        return { ok: false, ...where, problem: error.problem, fix: error.fix };
      }
      throw error;
    }
  }

  async markSubmitted(key: string, jobId: string): Promise<JobRecord> {
    return this.write((c) => {
      const record = this.required(this.jobWhere(c, 'j.key = ?', [key]), `key ${key}`);
      if (record.jobId === jobId) return record;
      // get_video may have found the job upstream before its POST was answered here: the submission is its record.
      this.run(c, 'DELETE FROM jobs WHERE job_id = ? AND discovered = 1', [jobId]);
      const status =
        record.status === 'submitting' || record.status === 'rejected' ? 'QUEUED' : record.status;
      const at = this.now().toISOString();
      this.run(c, 'UPDATE jobs SET job_id = ?, status = ?, updated_at = ? WHERE key = ?', [
        jobId,
        status,
        at,
        key,
      ]);
      return { ...record, jobId, status, updatedAt: at };
    });
  }

  async markRejected(key: string, reason: string): Promise<JobRecord> {
    return this.write((c) => {
      const record = this.required(this.jobWhere(c, 'j.key = ?', [key]), `key ${key}`);
      if (record.status !== 'submitting') return record;
      const at = this.now().toISOString();
      this.run(c, "UPDATE jobs SET status = 'rejected', failure = ?, updated_at = ? WHERE key = ?", [
        reason,
        at,
        key,
      ]);
      return { ...record, status: 'rejected', failure: reason, updatedAt: at };
    });
  }

  async updateJob(jobId: string, update: JobUpdate): Promise<JobRecord> {
    return this.write((c) => {
      const record = this.required(this.jobWhere(c, 'j.job_id = ?', [jobId]), `job ${jobId}`);
      return this.applyUpdate(c, record, update);
    });
  }

  async recordDiscovered(jobId: string, update: JobUpdate, member = LOCAL_MEMBER): Promise<JobRecord> {
    return this.write((c) => {
      let record = this.jobWhere(c, 'j.job_id = ?', [jobId]);
      if (record === undefined) {
        const at = this.now().toISOString();
        record = newRecord({
          key: `discovered-${jobId}`,
          member,
          requestHash: '',
          request: { model: DEFAULT_MODEL, prompt: update.prompt ?? '' },
          estimate: null,
          owner: this.owner,
          jobId,
          status: 'QUEUED',
          discovered: true,
          at,
        });
        this.insert(c, record);
      }
      return this.applyUpdate(c, record, update);
    });
  }

  async claimDownload(jobId: string): Promise<DownloadClaim> {
    return this.write((c) => {
      const record = this.required(this.jobWhere(c, 'j.job_id = ?', [jobId]), `job ${jobId}`);
      if (record.downloads.length > 0) return { kind: 'done', files: record.downloads };
      const now = this.now();
      const held = this.get(c, 'SELECT owner, until FROM download_claims WHERE job_key = ?', [record.key]);
      if (held !== undefined) {
        const holder = String(held.owner);
        // A process of this host holds its claim as long as it lives; only another host's is judged by its lease.
        const holds =
          holder !== this.owner &&
          this.isOwnerAlive(holder) &&
          (isLocalOwner(holder) || Date.parse(String(held.until)) > now.getTime());
        if (holds) return { kind: 'busy' };
      }
      this.run(
        c,
        `INSERT INTO download_claims (job_key, owner, until) VALUES (?, ?, ?)
         ON CONFLICT (job_key) DO UPDATE SET owner = excluded.owner, until = excluded.until`,
        [record.key, this.owner, new Date(now.getTime() + this.leaseMs).toISOString()],
      );
      return { kind: 'claimed' };
    });
  }

  async recordDownload(jobId: string, files: DownloadedFile[]): Promise<JobRecord> {
    return this.write((c) => {
      const record = this.required(this.jobWhere(c, 'j.job_id = ?', [jobId]), `job ${jobId}`);
      const at = this.now().toISOString();
      this.run(c, 'DELETE FROM downloads WHERE job_key = ?', [record.key]);
      for (const file of files) {
        this.run(
          c,
          'INSERT INTO downloads (job_key, kind, path, bytes, sha256, url) VALUES (?, ?, ?, ?, ?, ?)',
          [record.key, file.kind, file.path, credits(file.bytes, 'a file size'), file.sha256, file.url],
        );
      }
      this.run(c, 'DELETE FROM download_claims WHERE job_key = ?', [record.key]);
      this.run(c, 'UPDATE jobs SET updated_at = ? WHERE key = ?', [at, record.key]);
      return { ...record, downloads: files.map((f) => ({ ...f })), updatedAt: at };
    });
  }

  async releaseDownload(jobId: string): Promise<void> {
    this.write((c) => {
      this.run(
        c,
        'DELETE FROM download_claims WHERE owner = ? AND job_key = (SELECT key FROM jobs WHERE job_id = ?)',
        [this.owner, jobId],
      );
    });
  }

  async findByJobId(jobId: string, member?: string): Promise<JobRecord | undefined> {
    return this.read((c) =>
      member === undefined
        ? this.jobWhere(c, 'j.job_id = ?', [jobId])
        : this.jobWhere(c, 'j.job_id = ? AND j.member = ?', [jobId, member]),
    );
  }

  async findByKey(key: string): Promise<JobRecord | undefined> {
    return this.read((c) => this.jobWhere(c, 'j.key = ?', [key]));
  }

  async list(
    query: Parameters<Ledger['list']>[0],
  ): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const limit = Math.max(1, Math.floor(query.limit));
    const conditions: string[] = [];
    const params: SQLInputValue[] = [];
    if (query.member !== undefined) {
      conditions.push('j.member = ?');
      params.push(query.member);
    }
    if (query.status !== undefined) {
      conditions.push('j.status = ?');
      params.push(query.status);
    }
    if (after !== undefined) {
      conditions.push('(j.created_at, j.key) < (?, ?)');
      params.push(after.createdAt, after.key);
    }
    const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
    return this.read((c) => {
      const rows = this.all(c, `${SELECT_JOB} ${where} ORDER BY j.created_at DESC, j.key DESC LIMIT ?`, [
        ...params,
        limit + 1,
      ]);
      const records = rows.slice(0, limit).map(toRecord);
      const last = records.at(-1);
      return {
        records,
        nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.createdAt, last.key) : null,
      };
    });
  }

  async adoptOrphans(): Promise<JobRecord[]> {
    return this.write((c) => {
      const retainedSince = new Date(this.now().getTime() - this.resultRetentionMs).toISOString();
      const candidates = this.all(
        c,
        `${SELECT_JOB} WHERE (j.status = 'submitting' AND j.job_id IS NULL)
           OR (j.status IN ('QUEUED', 'PROCESSING') AND j.job_id IS NOT NULL)
           OR (j.status = 'COMPLETED' AND j.updated_at >= ?
               AND NOT EXISTS (SELECT 1 FROM downloads d WHERE d.job_key = j.key))
         ORDER BY j.created_at, j.rowid`,
        [retainedSince],
      )
        .map(toRecord)
        .filter((r) => r.owner !== this.owner && !this.isOwnerAlive(r.owner));
      // The lease is the owner written in this transaction; updated_at stays, so that adopting a completed job on
      // every start does not keep it inside the retention window for ever.
      for (const record of candidates)
        this.run(c, 'UPDATE jobs SET owner = ? WHERE key = ?', [this.owner, record.key]);
      return candidates.map((r) => ({ ...r, owner: this.owner }));
    });
  }

  async getUpload(sha256: string, kind: UploadCacheEntry['kind']): Promise<UploadCacheEntry | undefined> {
    return this.read((c) => {
      const row = this.get(
        c,
        'SELECT sha256, kind, bytes, asset_id, expires_at FROM uploads WHERE sha256 = ? AND kind = ? AND expires_at > ?',
        [sha256, kind, this.now().toISOString()],
      );
      return row === undefined
        ? undefined
        : {
            sha256: String(row.sha256),
            kind: String(row.kind) as UploadCacheEntry['kind'],
            bytes: Number(row.bytes),
            assetId: String(row.asset_id),
            expiresAt: String(row.expires_at),
          };
    });
  }

  async putUpload(entry: UploadCacheEntry): Promise<void> {
    this.write((c) => {
      this.run(
        c,
        `INSERT INTO uploads (sha256, kind, bytes, asset_id, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (sha256, kind) DO UPDATE SET bytes = excluded.bytes, asset_id = excluded.asset_id,
           expires_at = excluded.expires_at`,
        [entry.sha256, entry.kind, credits(entry.bytes, 'a file size'), entry.assetId, entry.expiresAt],
      );
    });
  }

  async createTask(task: NewTask): Promise<TaskRecord> {
    return this.write((c) => {
      const now = this.now();
      const createdAt = now.toISOString();
      this.run(c, 'DELETE FROM tasks WHERE expires_at <= ?', [createdAt]);
      this.run(
        c,
        `INSERT INTO tasks (task_id, member, tool, job_id, submission, warnings, result, created_at, ttl_ms, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          task.taskId,
          task.member,
          task.tool,
          task.jobId,
          task.submission,
          JSON.stringify(task.warnings),
          task.result === null ? null : JSON.stringify(task.result),
          createdAt,
          task.ttlMs,
          taskExpiry(now, task.ttlMs).toISOString(),
        ],
      );
      return { ...task, createdAt, cancelledAt: null, cancelMessage: null };
    });
  }

  async getTask(taskId: string, member: string): Promise<TaskRecord | undefined> {
    return this.read((c) => {
      const row = this.get(c, 'SELECT * FROM tasks WHERE task_id = ? AND member = ? AND expires_at > ?', [
        taskId,
        member,
        this.now().toISOString(),
      ]);
      return row === undefined ? undefined : toTask(row);
    });
  }

  async listTasks(member: string, limit: number, cursor?: string): Promise<TaskPage> {
    const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeTaskCursor(cursor);
    const size = Math.max(1, Math.floor(limit));
    return this.read((c) => {
      const rows = this.all(
        c,
        'SELECT * FROM tasks WHERE member = ? AND seq < ? AND expires_at > ? ORDER BY seq DESC LIMIT ?',
        [member, before, this.now().toISOString(), size + 1],
      );
      const last = rows[size - 1];
      return {
        tasks: rows.slice(0, size).map(toTask),
        nextCursor: rows.length > size && last !== undefined ? encodeTaskCursor(Number(last.seq)) : null,
      };
    });
  }

  async cancelTask(taskId: string, member: string, message: string): Promise<boolean> {
    return this.write((c) => {
      const at = this.now().toISOString();
      const changed = this.statement(
        c,
        `UPDATE tasks SET cancelled_at = ?, cancel_message = ?
         WHERE task_id = ? AND member = ? AND cancelled_at IS NULL AND expires_at > ?`,
      ).run(at, message, taskId, member, at);
      return Number(changed.changes) === 1;
    });
  }

  async storeTaskResult(taskId: string, member: string, result: Record<string, unknown>): Promise<void> {
    this.write((c) => {
      this.run(c, 'UPDATE tasks SET result = ? WHERE task_id = ? AND member = ?', [
        JSON.stringify(result),
        taskId,
        member,
      ]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.disconnect();
  }

  async inOneTransaction<T>(work: () => Promise<T>): Promise<T> {
    const c = this.connect();
    try {
      c.db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      throw this.failure(error);
    }
    this.outer = c;
    try {
      const value = await work();
      c.db.exec('COMMIT');
      return value;
    } catch (error) {
      rollback(c);
      throw this.failure(error);
    } finally {
      this.outer = undefined;
    }
  }

  // ---- decisions ------------------------------------------------------------------------------------------------

  /** A budget scope's figures for the period `now` falls in: one row of the running totals. */
  private snapshot(
    c: Connection,
    scope: string,
    limit: number | null,
    period: MemberScope['period'],
    now: Date,
  ): BudgetSnapshot {
    const row = this.get(
      c,
      'SELECT spent, reserved FROM budget_totals WHERE scope = ? AND period = ? AND period_start = ?',
      [scope, period, periodKey(period, now)],
    );
    const spent = row === undefined ? 0 : row.spent;
    const reserved = row === undefined ? 0 : row.reserved;
    // Fail closed: a budget that cannot be computed refuses to spend rather than allow it.
    if (
      typeof spent !== 'number' ||
      typeof reserved !== 'number' ||
      !Number.isSafeInteger(spent) ||
      !Number.isSafeInteger(reserved) ||
      spent < 0 ||
      reserved < 0 ||
      (limit !== null && (!Number.isSafeInteger(limit) || limit < 0))
    ) {
      throw new LedgerUnavailableError(
        `the budget (${scope}, ${period}) cannot be computed from ${this.path}: spent ${String(spent)}, reserved ${String(reserved)}, limit ${String(limit)}`,
        'Check SEEDANCE_BUDGET_CREDITS, and inspect ledger.db with the sqlite3 shell (see the README).',
      );
    }
    return {
      limit,
      period,
      periodStart: periodStart(period, now),
      spent,
      reserved,
      remaining: limit === null ? null : Math.max(0, limit - spent - reserved),
    };
  }

  /** The newest identical request of this member still worth attaching to: in flight, or completed recently. */
  private identical(c: Connection, member: string, requestHash: string, now: Date): JobRecord | undefined {
    const since = new Date(now.getTime() - this.attachWindowMs).toISOString();
    return this.jobWhere(
      c,
      `j.member = ? AND j.request_hash = ? AND j.discovered = 0 AND
       (j.status IN ${OPEN_STATUSES_SQL} OR (j.status = 'COMPLETED' AND j.updated_at >= ?))
       ORDER BY j.created_at DESC, j.key DESC`,
      [member, requestHash, since],
    );
  }

  private applyUpdate(c: Connection, record: JobRecord, update: JobUpdate): JobRecord {
    const next = applyJobUpdate(record, update, this.now().toISOString());
    // A poll that changes nothing is not worth a write.
    if (next === record) return record;
    this.run(
      c,
      `UPDATE jobs SET status = ?, progress = ?, charged = ?, refunded = ?, failure = ?, result = ?, updated_at = ?,
         upstream_anomalies = ? WHERE key = ?`,
      [
        next.status,
        next.progress,
        next.charged,
        next.refunded ? 1 : 0,
        next.failure,
        next.result === null ? null : JSON.stringify(next.result),
        next.updatedAt,
        JSON.stringify(next.upstreamAnomalies),
        next.key,
      ],
    );
    return next;
  }

  private insert(c: Connection, r: JobRecord): void {
    this.run(
      c,
      `INSERT INTO jobs (key, member, request_hash, request, estimate, estimate_credits, created_at, owner, job_id,
         status, progress, charged, refunded, failure, result, discovered, updated_at, upstream_anomalies)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        r.key,
        r.member,
        r.requestHash,
        JSON.stringify(r.request),
        r.estimate === null ? null : JSON.stringify(r.estimate),
        r.estimate === null ? null : credits(r.estimate.credits, 'an estimate'),
        r.createdAt,
        r.owner,
        r.jobId,
        r.status,
        r.progress,
        r.charged,
        r.refunded ? 1 : 0,
        r.failure,
        r.result === null ? null : JSON.stringify(r.result),
        r.discovered ? 1 : 0,
        r.updatedAt,
        JSON.stringify(r.upstreamAnomalies),
      ],
    );
  }

  private required(record: JobRecord | undefined, what: string): JobRecord {
    if (record === undefined) throw new UnknownRecordError(what);
    return record;
  }

  // ---- statements -----------------------------------------------------------------------------------------------

  private statement(c: Connection, sql: string): StatementSync {
    let statement = c.statements.get(sql);
    if (statement === undefined) {
      statement = c.db.prepare(sql);
      c.statements.set(sql, statement);
    }
    return statement;
  }

  private run(c: Connection, sql: string, params: SQLInputValue[]): void {
    this.statement(c, sql).run(...params);
  }

  private get(c: Connection, sql: string, params: SQLInputValue[]): Row | undefined {
    return this.statement(c, sql).get(...params) as Row | undefined;
  }

  private all(c: Connection, sql: string, params: SQLInputValue[]): Row[] {
    return this.statement(c, sql).all(...params) as Row[];
  }

  private jobWhere(c: Connection, where: string, params: SQLInputValue[]): JobRecord | undefined {
    const row = this.get(c, `${SELECT_JOB} WHERE ${where} LIMIT 1`, params);
    return row === undefined ? undefined : toRecord(row);
  }

  // ---- transactions and the connection --------------------------------------------------------------------------

  /** One decision: exclusive among every process on the file, durable before it returns, undone if it throws. */
  private write<T>(decide: (c: Connection) => T): T {
    if (this.outer !== undefined) return decide(this.outer);
    for (let attempt = 0; ; attempt++) {
      const c = this.connect();
      try {
        c.db.exec('BEGIN IMMEDIATE');
      } catch (error) {
        throw this.failure(error);
      }
      try {
        // The file may have been replaced while this process waited for the lock: decide on the one at the path.
        if (attempt === 0 && !this.stillAtPath(c)) {
          rollback(c);
          continue;
        }
        const value = decide(c);
        c.db.exec('COMMIT');
        return value;
      } catch (error) {
        rollback(c);
        throw this.failure(error);
      }
    }
  }

  private read<T>(look: (c: Connection) => T): T {
    const c = this.connect();
    try {
      return look(c);
    } catch (error) {
      throw this.failure(error);
    }
  }

  /** The open connection to the file now at the path, opening (or reopening) it as needed. */
  private connect(): Connection {
    if (this.closed) throw new Error('the ledger is closed');
    if (this.connection !== undefined && this.stillAtPath(this.connection)) return this.connection;
    this.disconnect();
    this.connection = this.open();
    return this.connection;
  }

  private stillAtPath(c: Connection): boolean {
    if (c.identity === null) return true;
    try {
      const now = statSync(this.path);
      if (now.dev === c.identity.dev && now.ino === c.identity.ino) return true;
      log.warn('ledger: ledger.db was replaced while this server ran; reopening it', { path: this.path });
    } catch {
      log.warn('ledger: ledger.db was removed while this server ran', { path: this.path });
    }
    return false;
  }

  private disconnect(): void {
    const c = this.connection;
    this.connection = undefined;
    if (c === undefined) return;
    try {
      c.db.close();
    } catch {
      // already unusable: nothing to release
    }
  }

  private open(): Connection {
    const memory = this.path === IN_MEMORY;
    if (!memory) this.checkPath();
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(this.path);
    } catch (error) {
      throw this.unavailable(error);
    }
    try {
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(this.busyTimeoutMs))}`);
      db.exec('PRAGMA foreign_keys = ON');
      if (!memory) {
        const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
        if (mode?.journal_mode !== 'wal') {
          throw new LedgerUnavailableError(
            `${this.path} cannot be switched to write-ahead logging (journal mode ${String(mode?.journal_mode)})`,
            'Keep the state folder on a local disk (not a network share), or point SEEDANCE_STATE_DIR at one.',
          );
        }
        db.exec('PRAGMA synchronous = FULL');
      }
      migrate(db, this.path);
      for (const [name, value] of Object.entries(this.options.pragmas ?? {})) {
        db.exec(`PRAGMA ${name} = ${typeof value === 'number' ? value : `'${value.replaceAll("'", "''")}'`}`);
      }
      const identity = memory ? null : statSync(this.path);
      this.hadFile = !memory;
      return {
        db,
        identity: identity === null ? null : { dev: identity.dev, ino: identity.ino },
        statements: new Map(),
      };
    } catch (error) {
      try {
        db.close();
      } catch {
        // closing a connection that failed to set up
      }
      throw error instanceof LedgerUnavailableError ? error : this.unavailable(error);
    }
  }

  /** What is at the path, named before SQLite is let near it. */
  private checkPath(): void {
    const dir = dirname(this.path);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new LedgerUnavailableError(
        `the state folder ${dir} cannot be created (${(error as NodeJS.ErrnoException).code})`,
        'Point SEEDANCE_STATE_DIR at a folder this user can write, or create it.',
        error,
      );
    }
    let exists = true;
    try {
      const link = lstatSync(this.path);
      let target = link;
      if (link.isSymbolicLink()) {
        try {
          target = statSync(this.path);
        } catch {
          throw new LedgerUnavailableError(
            `${this.path} is a symbolic link to something that does not exist`,
            `Remove the link (or restore what it points to); a new, empty ledger is then made at ${this.path}.`,
          );
        }
      }
      if (target.isDirectory()) {
        throw new LedgerUnavailableError(
          `${this.path} is a folder, not the ledger file`,
          `Move that folder out of the way (its contents are not seedance-mcp's); a new ledger is then made there.`,
        );
      }
      if (!target.isFile()) {
        throw new LedgerUnavailableError(
          `${this.path} is not a regular file`,
          `Remove it; a new ledger is then made there.`,
        );
      }
      if (target.size > 0 && !hasSqliteHeader(this.path)) {
        throw new LedgerUnavailableError(
          `${this.path} is not a SQLite database (damaged, or another program's file)`,
          `Move it aside and restore the ledger from a backup (sqlite3 ledger.db '.backup copy.db' makes one), or move it aside to start an empty ledger (the budget then starts from zero).`,
        );
      }
    } catch (error) {
      if (error instanceof LedgerUnavailableError) throw error;
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.unavailable(error);
      exists = false;
    }
    if (!exists && this.hadFile) {
      throw new LedgerUnavailableError(
        `${this.path} was removed while this server ran`,
        'Restore it from a backup, or restart the server to begin a new, empty ledger (the budget then starts from zero).',
      );
    }
    try {
      fsAccess(dir, constants.W_OK);
      if (exists) fsAccess(this.path, constants.R_OK | constants.W_OK);
    } catch (error) {
      throw new LedgerUnavailableError(
        `${exists ? this.path : dir} is read-only for this user (${(error as NodeJS.ErrnoException).code})`,
        `Make the state folder ${dir} and ledger.db writable for this user, or point SEEDANCE_STATE_DIR at a writable folder.`,
        error,
      );
    }
  }

  /** An error from SQLite, in the ledger's words; a connection that may be unusable is dropped, to be reopened. */
  private failure(error: unknown): unknown {
    if (error instanceof LedgerUnavailableError) {
      this.disconnect();
      return error;
    }
    const code = sqliteCode(error);
    if (code === undefined) return error;
    const dir = dirname(this.path);
    switch (code) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return new LedgerBusyError(this.busyTimeoutMs, error);
      case SQLITE_FULL:
        return new LedgerWriteError(
          `the disk holding ${dir} is full`,
          `Free some space on that disk (or point SEEDANCE_STATE_DIR at another), then call again.`,
          error,
        );
      case SQLITE_IOERR:
        this.disconnect();
        return new LedgerWriteError(
          `an I/O error on ${this.path} (${errorText(error)})`,
          'Check the disk holding the state folder, then call again.',
          error,
        );
      case SQLITE_READONLY:
        this.disconnect();
        return new LedgerWriteError(
          `${this.path} is read-only (${errorText(error)})`,
          `Make the state folder ${dir} and ledger.db writable for this user, then call again.`,
          error,
        );
      case SQLITE_CONSTRAINT:
        // A value the schema refuses: the code above validates every value first, so this is a bug, never data.
        return new LedgerValueError(`the ledger refused a value: ${errorText(error)}`);
      default:
        return this.unavailable(error);
    }
  }

  private unavailable(error: unknown): LedgerUnavailableError {
    this.disconnect();
    const code = sqliteCode(error);
    if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) {
      return new LedgerUnavailableError(
        `${this.path} is damaged (${errorText(error)})`,
        `Move it aside and restore the ledger from a backup, or move it aside to start an empty ledger (the budget then starts from zero).`,
        error,
      );
    }
    if (code === SQLITE_READONLY || code === SQLITE_CANTOPEN) {
      return new LedgerUnavailableError(
        `${this.path} cannot be opened for writing (${errorText(error)})`,
        `Make the state folder ${dirname(this.path)} and ledger.db writable for this user, or point SEEDANCE_STATE_DIR at a writable folder.`,
        error,
      );
    }
    return new LedgerUnavailableError(
      `${this.path}: ${errorText(error)}`,
      'Check the state folder (SEEDANCE_STATE_DIR) and the disk it is on.',
      error,
    );
  }
}

/** Takes the database to the schema this code knows, in one transaction; refuses a newer or foreign one. */
function migrate(db: DatabaseSync, path: string): void {
  const pragma = (name: string) => Number((db.prepare(`PRAGMA ${name}`).get() as Row)[name]);
  const check = () => {
    const version = pragma('user_version');
    const application = pragma('application_id');
    if (version > SCHEMA_VERSION) {
      throw new LedgerSchemaTooNewError(
        `${path} is at schema version ${version}, written by a newer seedance-mcp; this one knows versions up to ${SCHEMA_VERSION}`,
        'Update seedance-mcp (every MCP client that starts it on this machine), or point SEEDANCE_STATE_DIR at another folder.',
      );
    }
    const tables = Number(
      (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as Row).n,
    );
    if (application !== APPLICATION_ID && (version !== 0 || tables > 0)) {
      throw new LedgerUnavailableError(
        `${path} is a SQLite database, but not a seedance-mcp ledger`,
        'Move it out of the state folder (it belongs to another program), or point SEEDANCE_STATE_DIR at another folder.',
      );
    }
    return version;
  };
  if (check() === SCHEMA_VERSION) return;
  db.exec('BEGIN IMMEDIATE');
  try {
    // Another process may have migrated while this one waited for the lock.
    for (let version = check(); version < SCHEMA_VERSION; version++) MIGRATIONS[version]?.(db);
    db.exec(`PRAGMA application_id = ${APPLICATION_ID}`);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite rolled back already
    }
    throw error;
  }
}

function rollback(c: Connection): void {
  try {
    c.db.exec('ROLLBACK');
  } catch {
    // SQLite already rolled back (it does on a full disk or an I/O error), or nothing was begun
  }
}

function hasSqliteHeader(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(SQLITE_HEADER.length);
    const read = readSync(fd, header, 0, header.length, 0);
    return read === header.length && header.toString('latin1') === SQLITE_HEADER;
  } finally {
    closeSync(fd);
  }
}

// SQLite's primary result codes (https://sqlite.org/rescode.html); node:sqlite reports the extended one.
const SQLITE_LOCKED = 6;
const SQLITE_BUSY = 5;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_CONSTRAINT = 19;
const SQLITE_NOTADB = 26;

function sqliteCode(error: unknown): number | undefined {
  const errcode = (error as { errcode?: unknown } | null)?.errcode;
  return typeof errcode === 'number' ? errcode & 0xff : undefined;
}

function errorText(error: unknown): string {
  const errstr = (error as { errstr?: unknown } | null)?.errstr;
  return typeof errstr === 'string' ? errstr : error instanceof Error ? error.message : String(error);
}

function toRecord(row: Row): JobRecord {
  return {
    key: String(row.key),
    member: String(row.member),
    requestHash: String(row.request_hash),
    request: JSON.parse(String(row.request)),
    estimate: row.estimate === null ? null : JSON.parse(String(row.estimate)),
    createdAt: String(row.created_at),
    owner: String(row.owner),
    jobId: row.job_id === null ? null : String(row.job_id),
    status: String(row.status) as JobRecord['status'],
    progress: row.progress === null ? null : Number(row.progress),
    charged: row.charged === null ? null : Number(row.charged),
    refunded: row.refunded === 1,
    failure: row.failure === null ? null : String(row.failure),
    result: row.result === null ? null : JSON.parse(String(row.result)),
    downloads: JSON.parse(String(row.files ?? '[]')) as DownloadedFile[],
    discovered: row.discovered === 1,
    upstreamAnomalies: JSON.parse(String(row.upstream_anomalies ?? '[]')) as string[],
    updatedAt: String(row.updated_at),
  };
}

function toTask(row: Row): TaskRecord {
  return {
    taskId: String(row.task_id),
    member: String(row.member),
    tool: String(row.tool),
    jobId: row.job_id === null ? null : String(row.job_id),
    submission: String(row.submission),
    warnings: JSON.parse(String(row.warnings)) as string[],
    result: row.result === null ? null : (JSON.parse(String(row.result)) as Record<string, unknown>),
    createdAt: String(row.created_at),
    ttlMs: Number(row.ttl_ms),
    cancelledAt: row.cancelled_at === null ? null : String(row.cancelled_at),
    cancelMessage: row.cancel_message === null ? null : String(row.cancel_message),
  };
}
