/**
 * The ledger in PostgreSQL, for several hosts that share one budget, one job list and one idempotency record.
 *
 * - Every decision is one transaction. A reservation takes a transaction-scoped advisory lock on its request (and on
 *   its key), then, only when it reserves anew, locks the one budget row: the attach check, the budget check and the
 *   new record are one step across all hosts. A job's changes lock its row; a download claim locks its job's row.
 * - A job's own changes follow the same rules as the SQLite ledger (rules.ts applyJobUpdate, on the locked row).
 * - Hosts renew a lease row; whether a host is gone is judged by the database's clock (`now()`), never a host's.
 * - The connection lost mid-call: the call fails with LedgerUnavailableError before anything is sent upstream; the
 *   pool connects again on the next call.
 *
 * The client is `pg` (node-postgres), loaded only when SEEDANCE_LEDGER_URL is set.
 */
import { randomUUID } from 'node:crypto';
import type { Client, Pool, PoolClient, QueryResultRow } from 'pg';
import { RESULT_RETENTION_MS } from '../apiframe/schemas.js';
import { LedgerUnavailableError, UnknownRecordError } from '../core/errors.js';
import { log } from '../core/log.js';
import { registerSecret, sanitize } from '../core/redact.js';
import { DEFAULT_MODEL } from '../domain/params.js';
import type { LearnedRate } from '../domain/pricing.js';
import { JOB_CHANNEL, MIGRATION_LOCK, MIGRATIONS } from './postgres-schema.js';
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
  isProcessAlive,
  learnedRatesFrom,
  memberKey,
  newRecord,
  periodStart,
  taskExpiry,
} from './rules.js';
import {
  type BudgetSnapshot,
  type DownloadClaim,
  type DownloadedFile,
  type JobLeases,
  type JobRecord,
  type JobUpdate,
  type Ledger,
  type LedgerHealth,
  type LedgerOptions,
  type ListQuery,
  LOCAL_MEMBER,
  type MemberScope,
  type NewTask,
  OPEN_STATUSES,
  type ReserveOutcome,
  type ReserveRequest,
  type TaskPage,
  type TaskRecord,
  type UploadCacheEntry,
} from './types.js';

/** How long a host counts as alive after its last renewal; renewed every third of it. */
const DEFAULT_HOST_LEASE_MS = 15_000;
/** OPEN_STATUSES as a parameter for `status = ANY($n::text[])`. */
const OPEN = [...OPEN_STATUSES];
/** How soon the change feed tries again after losing its connection. */
const RELISTEN_MS = 1_000;

/** The fix for a database that cannot be reached, in words fit for the user. */
const UNREACHABLE_FIX =
  'Check that the PostgreSQL server named by SEEDANCE_LEDGER_URL runs and accepts this host; the server reconnects by itself, and an identical call never pays twice.';

export interface PostgresLedgerOptions extends LedgerOptions {
  /** How long a host counts as alive after its last renewal (15 s); its jobs are taken over after that. */
  hostLeaseMs?: number;
}

/** Runs a statement; resolves with its rows. */
type Query = <R extends QueryResultRow>(text: string, values?: unknown[]) => Promise<R[]>;

/** A ledger on the PostgreSQL database at `url`, with its schema brought up to date first. */
/**
 * A ledger on the PostgreSQL database at `url`. Its schema is brought up to date on first use; a database that
 * cannot be reached does not stop the server: every call says so (LedgerUnavailableError, as does health()) and the
 * next call tries again.
 */
export async function openPostgresLedger(url: string, options: PostgresLedgerOptions): Promise<Ledger> {
  // The password never appears in a log or a result, whether it came in the URL or in PGPASSWORD.
  registerSecret(safeUrl(url)?.password || undefined);
  registerSecret(process.env.PGPASSWORD);
  const { default: pg } = await import('pg');
  const config = {
    connectionString: url,
    application_name: 'seedance-mcp',
    connectionTimeoutMillis: 30_000,
  };
  // A call may wait for a connection behind others' (hundreds of jobs followed at once): bounded, but not short.
  const pool = new pg.Pool({ ...config, max: 20, idleTimeoutMillis: 30_000 });
  // An idle connection that the server closes (a restart) is dropped from the pool; the next call opens another.
  pool.on('error', (error) => log.debug('ledger: an idle connection was lost', { error: describe(error) }));
  const ledger = new PostgresLedger(new Database(pool, () => new pg.Client(config)), where(url), options);
  await ledger.ready().catch((error: unknown) => {
    if (!(error instanceof LedgerUnavailableError)) throw error;
    log.warn('ledger: cannot be used', { problem: error.problem });
  });
  return ledger;
}

/** Where the ledger is, for health(): host, port and database, never the password. */
function where(url: string): string {
  const parsed = safeUrl(url);
  if (parsed === undefined) return 'postgres (URL not shown)';
  return `postgres://${parsed.hostname || process.env.PGHOST || 'localhost'}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`;
}

/** The pool, with every failure to reach the server turned into LedgerUnavailableError. */
class Database {
  constructor(
    readonly pool: Pool,
    /** A connection of its own, outside the pool: for LISTEN. */
    readonly dedicated: () => Client,
  ) {}

  query: Query = (text, values) => guarded(async () => (await this.pool.query(text, values)).rows);

  /** Runs `work` in one transaction on one connection; a connection that failed is not given back to the pool. */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    return guarded(async () => {
      const client: PoolClient = await this.pool.connect();
      // A checked-out connection that breaks reports it here as well as to the statement waiting on it.
      const ignore = () => undefined;
      client.on('error', ignore);
      let failure: unknown;
      try {
        await client.query('BEGIN');
        const value = await work(async (text, values) => (await client.query(text, values)).rows);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        failure = error;
        if (!isConnectionFailure(error)) await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.off('error', ignore);
        client.release(isConnectionFailure(failure) ? true : undefined);
      }
    });
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * Applies the migrations not yet applied, in one transaction under a transaction-scoped advisory lock: of hosts
 * starting together, one migrates and the others, waiting on the lock, then find nothing left to do.
 */
function migrate(db: Database): Promise<number[]> {
  return db.transaction(async (query) => {
    await query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await query(`CREATE TABLE IF NOT EXISTS seedance_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(
      (await query<{ version: number }>('SELECT version FROM seedance_migrations')).map((r) => r.version),
    );
    const newest = Math.max(0, ...done);
    const known = MIGRATIONS.at(-1)?.version ?? 0;
    if (newest > known) {
      throw new LedgerUnavailableError(
        `the shared ledger's schema is version ${newest}, newer than this seedance-mcp knows (${known})`,
        'Upgrade seedance-mcp on this host to the version the other hosts run.',
      );
    }
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await query(migration.sql);
      await query('INSERT INTO seedance_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
      log.info('ledger: schema migrated', { version: migration.version });
    }
    return applied;
  });
}

interface JobRow {
  key: string;
  member: string;
  request_hash: string;
  request: JobRecord['request'];
  estimate: JobRecord['estimate'];
  created_at: Date;
  owner: string;
  job_id: string | null;
  status: JobRecord['status'];
  progress: number | null;
  charged: string | null;
  refunded: boolean;
  failure: string | null;
  result: JobRecord['result'];
  downloads: DownloadedFile[];
  discovered: boolean;
  updated_at: Date;
  upstream_anomalies: string[];
}

function toRecord(row: JobRow): JobRecord {
  return {
    key: row.key,
    member: row.member,
    requestHash: row.request_hash,
    request: row.request,
    estimate: row.estimate,
    createdAt: row.created_at.toISOString(),
    owner: row.owner,
    jobId: row.job_id,
    status: row.status,
    progress: row.progress,
    // bigint comes back as text; the schema keeps it a whole number of credits, at least 0.
    charged: row.charged === null ? null : Number(row.charged),
    refunded: row.refunded,
    failure: row.failure,
    result: row.result,
    downloads: row.downloads,
    discovered: row.discovered,
    upstreamAnomalies: row.upstream_anomalies,
    updatedAt: row.updated_at.toISOString(),
  };
}

interface TaskRow {
  /** bigint comes back as text. */
  seq: string;
  task_id: string;
  member: string;
  tool: string;
  job_id: string | null;
  submission: string;
  warnings: string[];
  result: Record<string, unknown> | null;
  created_at: Date;
  ttl_ms: string;
  cancelled_at: Date | null;
  cancel_message: string | null;
}

function toTask(row: TaskRow): TaskRecord {
  return {
    taskId: row.task_id,
    member: row.member,
    tool: row.tool,
    jobId: row.job_id,
    submission: row.submission,
    warnings: row.warnings,
    result: row.result,
    createdAt: row.created_at.toISOString(),
    ttlMs: Number(row.ttl_ms),
    cancelledAt: row.cancelled_at === null ? null : row.cancelled_at.toISOString(),
    cancelMessage: row.cancel_message,
  };
}

const SERVER_SCOPE = null;

class PostgresLedger implements Ledger {
  readonly leases: PostgresJobLeases;
  private readonly now: () => Date;
  private readonly owner: string;
  private readonly isOwnerAlive: (owner: string) => boolean;
  private readonly resultRetentionMs: number;
  private readonly hostLeaseMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly location: string,
    private readonly options: PostgresLedgerOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.owner = options.owner ?? currentOwner();
    this.isOwnerAlive = options.isOwnerAlive ?? isProcessAlive;
    this.resultRetentionMs = options.resultRetentionMs ?? RESULT_RETENTION_MS;
    this.hostLeaseMs = options.hostLeaseMs ?? DEFAULT_HOST_LEASE_MS;
    this.leases = new PostgresJobLeases(db, this.owner, this.hostLeaseMs);
  }

  /** Migrates and starts this host's lease, once; a failure is tried again on the next call. */
  ready(): Promise<void> {
    this.started ??= (async () => {
      await migrate(this.db);
      await this.renew();
      if (this.closed) return;
      this.heartbeat = setInterval(() => {
        this.renew().catch((error: unknown) =>
          log.warn('ledger: could not renew this host’s lease', { error: describe(error) }),
        );
      }, this.hostLeaseMs / 3);
      this.heartbeat.unref();
    })().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  private async renew(): Promise<void> {
    await this.db.query(
      `INSERT INTO seedance_hosts (owner, alive_until) VALUES ($1, now() + $2 * interval '1 millisecond')
       ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until`,
      [this.owner, this.hostLeaseMs],
    );
    // The leases of ended jobs lapse rather than being given up (no host polls those again): cleared an hour on.
    await this.db.query("DELETE FROM seedance_job_leases WHERE expires_at < now() - interval '1 hour'");
  }

  private async transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    await this.ready();
    return this.db.transaction(work);
  }

  private async query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    await this.ready();
    return this.db.query<R>(text, values);
  }

  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    const needed = credits(request.estimate.credits, 'an estimate');
    const member: MemberScope = request.member ?? {
      name: LOCAL_MEMBER,
      budgetLimit: null,
      period: this.options.period,
    };
    const storedKey = request.key === undefined ? undefined : memberKey(member.name, request.key);
    return this.transaction(async (query) => {
      // Identical requests (and uses of one key) are decided one at a time, across hosts; so is every new
      // reservation, behind the one budget row. Always in this order (request, key, budget), so no two wait on each
      // other; an attach, the common repeat, never waits for the budget.
      await query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `seedance-request:${member.name}:${request.requestHash}`,
      ]);
      if (storedKey !== undefined) {
        await query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`seedance-key:${storedKey}`]);
      }
      const now = this.now();
      const at = now.toISOString();
      const budgets = async () => ({
        budget: await this.snapshot(query, SERVER_SCOPE, this.options.budgetLimit, this.options.period, now),
        memberBudget:
          request.member === undefined
            ? null
            : await this.snapshot(query, member.name, member.budgetLimit, member.period, now),
      });
      // The agent's own key names one submission forever; without a known key, an identical live request of the same
      // member is the same one.
      const keyed =
        storedKey === undefined
          ? undefined
          : (await query<JobRow>('SELECT * FROM seedance_jobs WHERE key = $1', [storedKey]))[0];
      const existingRow =
        keyed ??
        (request.newJob ? undefined : await this.identical(query, member.name, request.requestHash, now));
      const existing = existingRow === undefined ? undefined : toRecord(existingRow);
      if (
        existing !== undefined &&
        (existing.requestHash !== request.requestHash || existing.member !== member.name)
      ) {
        return { kind: 'key_conflict', record: existing };
      }
      if (existing !== undefined && existing.status === 'submitting' && existing.jobId === null) {
        await query('UPDATE seedance_jobs SET owner = $1, updated_at = $2 WHERE key = $3', [
          this.owner,
          now,
          existing.key,
        ]);
        return {
          kind: 'resume',
          record: { ...existing, owner: this.owner, updatedAt: at },
          ...(await budgets()),
        };
      }
      if (existing !== undefined && existing.status !== 'rejected') {
        return { kind: 'attached', record: existing, ...(await budgets()) };
      }
      // A new reservation, or a key whose earlier POST was refused: that one cost nothing, so it may be tried again.
      await query('SELECT id FROM seedance_budget_lock WHERE id = 1 FOR UPDATE');
      const before = await budgets();
      if (before.budget.remaining !== null && needed > before.budget.remaining) {
        return { kind: 'over_budget', budget: before.budget, needed, scope: 'server' };
      }
      if (before.memberBudget?.remaining != null && needed > before.memberBudget.remaining) {
        return { kind: 'over_budget', budget: before.memberBudget, needed, scope: 'member' };
      }
      if (existing !== undefined) await query('DELETE FROM seedance_jobs WHERE key = $1', [existing.key]);
      const record = newRecord({
        key: existing?.key ?? storedKey ?? this.options.makeKey?.() ?? `seedance-mcp-${randomUUID()}`,
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
      await insert(query, record);
      return { kind: 'reserved', record, ...(await budgets()) };
    });
  }

  /** The newest identical request of this member still worth attaching to: in flight, or completed recently. */
  private async identical(
    query: Query,
    member: string,
    requestHash: string,
    now: Date,
  ): Promise<JobRow | undefined> {
    const since = new Date(now.getTime() - (this.options.attachWindowMs ?? ATTACH_WINDOW_MS));
    const rows = await query<JobRow>(
      `SELECT * FROM seedance_jobs
       WHERE member = $1 AND request_hash = $2 AND NOT discovered
         AND (status = ANY($3::text[]) OR (status = 'COMPLETED' AND updated_at >= $4))
       ORDER BY created_at DESC, key COLLATE "C" DESC LIMIT 1`,
      [member, requestHash, OPEN, since],
    );
    return rows[0];
  }

  async budget(member?: MemberScope): Promise<BudgetSnapshot> {
    await this.ready();
    const query: Query = (text, values) => this.db.query(text, values);
    return member === undefined
      ? this.snapshot(query, SERVER_SCOPE, this.options.budgetLimit, this.options.period, this.now())
      : this.snapshot(query, member.name, member.budgetLimit, member.period, this.now());
  }

  async learnedRates(): Promise<LearnedRate[]> {
    const rows = await this.query<ChargeSums & QueryResultRow>(
      `SELECT request->>'model' AS model, estimate->>'variant' AS variant, sum(charged) AS charged,
         sum((estimate->>'duration')::numeric) AS seconds, count(*) AS charges
       FROM seedance_jobs
       WHERE NOT discovered AND status = 'COMPLETED' AND charged > 0 AND estimate IS NOT NULL
       GROUP BY 1, 2`,
      [],
    );
    return learnedRatesFrom(rows);
  }

  /** A budget's figures for the period `now` falls in: the server's (member null), or one member's. */
  private async snapshot(
    query: Query,
    member: string | null,
    limit: number | null,
    period: MemberScope['period'],
    now: Date,
  ): Promise<BudgetSnapshot> {
    const start = periodStart(period, now);
    const [totals] = await query<{ spent: string; reserved: string }>(
      `SELECT
         coalesce(sum(coalesce(charged, estimate_credits)) FILTER (WHERE status = 'COMPLETED'), 0) AS spent,
         coalesce(sum(coalesce(charged, estimate_credits)) FILTER (WHERE status = ANY($1::text[])), 0) AS reserved
       FROM seedance_jobs
       WHERE NOT discovered AND ($2::timestamptz IS NULL OR created_at >= $2)
         AND ($3::text IS NULL OR member = $3)`,
      [OPEN, start, member],
    );
    const spent = Number(totals?.spent);
    const reserved = Number(totals?.reserved);
    // Fail closed: a budget that cannot be computed refuses to spend rather than allow it.
    if (!Number.isSafeInteger(spent) || !Number.isSafeInteger(reserved) || spent < 0 || reserved < 0) {
      throw new LedgerUnavailableError(
        `the budget cannot be computed from ${this.location}: spent ${String(totals?.spent)}, reserved ${String(totals?.reserved)}`,
        'Inspect the seedance_jobs table of that database.',
      );
    }
    return {
      limit,
      period,
      periodStart: start,
      spent,
      reserved,
      remaining: limit === null ? null : Math.max(0, limit - spent - reserved),
    };
  }

  async health(): Promise<LedgerHealth> {
    const at = { store: 'postgres', location: this.location };
    try {
      await this.query('SELECT 1');
      return { ok: true, ...at };
    } catch (error) {
      if (error instanceof LedgerUnavailableError)
        return { ok: false, ...at, problem: error.problem, fix: error.fix };
      throw error;
    }
  }

  markSubmitted(key: string, jobId: string): Promise<JobRecord> {
    return this.transaction(async (query) => {
      const record = await locked(query, 'key', key);
      if (record.jobId === jobId) return record;
      // get_video may have found the job upstream before its POST was answered here: the submission is its record.
      await query('DELETE FROM seedance_jobs WHERE job_id = $1 AND discovered', [jobId]);
      const status =
        record.status === 'submitting' || record.status === 'rejected' ? 'QUEUED' : record.status;
      return save(query, record, { ...record, jobId, status, updatedAt: this.at() });
    });
  }

  markRejected(key: string, reason: string): Promise<JobRecord> {
    return this.transaction(async (query) => {
      const record = await locked(query, 'key', key);
      if (record.status !== 'submitting') return record;
      return save(query, record, { ...record, status: 'rejected', failure: reason, updatedAt: this.at() });
    });
  }

  updateJob(jobId: string, update: JobUpdate): Promise<JobRecord> {
    return this.transaction(async (query) => {
      const record = await locked(query, 'job_id', jobId);
      return save(query, record, applyJobUpdate(record, update, this.at()));
    });
  }

  recordDiscovered(jobId: string, update: JobUpdate, member = LOCAL_MEMBER): Promise<JobRecord> {
    return this.transaction(async (query) => {
      const at = this.at();
      await insert(
        query,
        newRecord({
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
        }),
        true,
      );
      const record = await locked(query, 'job_id', jobId);
      return save(query, record, applyJobUpdate(record, update, at));
    });
  }

  claimDownload(jobId: string): Promise<DownloadClaim> {
    return this.transaction(async (query) => {
      const record = await locked(query, 'job_id', jobId);
      if (record.downloads.length > 0) return { kind: 'done', files: record.downloads };
      const [held] = await query<{ owner: string; live: boolean }>(
        `SELECT c.owner, c.until > now() AND EXISTS (
           SELECT 1 FROM seedance_hosts h WHERE h.owner = c.owner AND h.alive_until > now()) AS live
         FROM seedance_download_claims c WHERE c.job_id = $1`,
        [jobId],
      );
      // Another host's claim holds while its lease runs (the database's clock) and that host renews its own.
      if (held !== undefined && held.owner !== this.owner && held.live && this.isOwnerAlive(held.owner)) {
        return { kind: 'busy' };
      }
      await query(
        `INSERT INTO seedance_download_claims (job_id, owner, until)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, until = excluded.until`,
        [jobId, this.owner, this.options.downloadLeaseMs ?? DOWNLOAD_LEASE_MS],
      );
      return { kind: 'claimed' };
    });
  }

  recordDownload(jobId: string, files: DownloadedFile[]): Promise<JobRecord> {
    for (const file of files) credits(file.bytes, 'a file size');
    return this.transaction(async (query) => {
      const record = await locked(query, 'job_id', jobId);
      await query('DELETE FROM seedance_download_claims WHERE job_id = $1', [jobId]);
      return save(query, record, {
        ...record,
        downloads: files.map((f) => ({ ...f })),
        updatedAt: this.at(),
      });
    });
  }

  async releaseDownload(jobId: string): Promise<void> {
    await this.query('DELETE FROM seedance_download_claims WHERE job_id = $1 AND owner = $2', [
      jobId,
      this.owner,
    ]);
  }

  async findByJobId(jobId: string, member?: string): Promise<JobRecord | undefined> {
    const [row] = await this.query<JobRow>(
      'SELECT * FROM seedance_jobs WHERE job_id = $1 AND ($2::text IS NULL OR member = $2)',
      [jobId, member ?? null],
    );
    return row === undefined ? undefined : toRecord(row);
  }

  async findByKey(key: string): Promise<JobRecord | undefined> {
    const [row] = await this.query<JobRow>('SELECT * FROM seedance_jobs WHERE key = $1', [key]);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Newest first; the cursor is the last record's (createdAt, key), as in the SQLite ledger. */
  async list(query: ListQuery): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const limit = Math.max(1, Math.floor(query.limit));
    const rows = await this.query<JobRow>(
      `SELECT * FROM seedance_jobs
       WHERE ($1::text IS NULL OR member = $1) AND ($2::text IS NULL OR status = $2)
         AND ($3::timestamptz IS NULL OR created_at < $3 OR (created_at = $3 AND key COLLATE "C" < $4))
       ORDER BY created_at DESC, key COLLATE "C" DESC
       LIMIT $5`,
      [
        query.member ?? null,
        query.status ?? null,
        after === undefined ? null : new Date(after.createdAt),
        after?.key ?? null,
        limit + 1,
      ],
    );
    const records = rows.slice(0, limit).map(toRecord);
    const last = records.at(-1);
    return {
      records,
      nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.createdAt, last.key) : null,
    };
  }

  /**
   * The work of hosts that are gone (a lease run out by the database's clock, or a dead process of this machine),
   * taken over by this host in the same transaction, so that exactly one host takes each (see Ledger.adoptOrphans:
   * unanswered submissions, jobs in flight, completed jobs not yet downloaded within the result retention); and this
   * host's own jobs in flight, so that a job it stopped following (the database was away a while) is followed again.
   * Asked at start and then every third of the host lease.
   */
  adoptOrphans(): Promise<JobRecord[]> {
    return this.transaction(async (query) => {
      const candidates = await query<JobRow & { host_alive: boolean }>(
        `SELECT j.*, EXISTS (
           SELECT 1 FROM seedance_hosts h WHERE h.owner = j.owner AND h.alive_until > now()) AS host_alive
         FROM seedance_jobs j
         WHERE (j.status = 'submitting' AND j.job_id IS NULL)
            OR (j.status IN ('QUEUED', 'PROCESSING') AND j.job_id IS NOT NULL)
            OR (j.status = 'COMPLETED' AND j.downloads = '[]'::jsonb
                AND j.updated_at >= $1)
         ORDER BY j.created_at
         FOR UPDATE OF j SKIP LOCKED`,
        // updated_at is written by the hosts' clocks, so the window is judged by this host's.
        [new Date(this.now().getTime() - this.resultRetentionMs)],
      );
      const gone = candidates.filter(
        (row) => row.owner !== this.owner && (!row.host_alive || !this.isOwnerAlive(row.owner)),
      );
      // Adopted: only the owner changes (updated_at too stays, so that the retention window is not renewed).
      const taken =
        gone.length === 0
          ? []
          : await query<JobRow>(
              'UPDATE seedance_jobs SET owner = $1 WHERE key = ANY($2::text[]) RETURNING *',
              [this.owner, gone.map((row) => row.key)],
            );
      const own = candidates.filter(
        (row) => row.owner === this.owner && (row.status === 'QUEUED' || row.status === 'PROCESSING'),
      );
      return [...own, ...taken].map(toRecord);
    });
  }

  async getUpload(sha256: string, kind: UploadCacheEntry['kind']): Promise<UploadCacheEntry | undefined> {
    const [row] = await this.query<{
      sha256: string;
      kind: UploadCacheEntry['kind'];
      bytes: string;
      asset_id: string;
      expires_at: Date;
    }>('SELECT * FROM seedance_uploads WHERE sha256 = $1 AND kind = $2 AND expires_at > $3', [
      sha256,
      kind,
      this.now(),
    ]);
    return row === undefined
      ? undefined
      : {
          sha256: row.sha256,
          kind: row.kind,
          bytes: Number(row.bytes),
          assetId: row.asset_id,
          expiresAt: row.expires_at.toISOString(),
        };
  }

  async putUpload(entry: UploadCacheEntry): Promise<void> {
    await this.query(
      `INSERT INTO seedance_uploads (sha256, kind, bytes, asset_id, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (sha256, kind) DO UPDATE
       SET bytes = excluded.bytes, asset_id = excluded.asset_id, expires_at = excluded.expires_at`,
      [
        entry.sha256,
        entry.kind,
        credits(entry.bytes, 'a file size'),
        entry.assetId,
        new Date(entry.expiresAt),
      ],
    );
  }

  createTask(task: NewTask): Promise<TaskRecord> {
    return this.transaction(async (query) => {
      const now = this.now();
      await query('DELETE FROM seedance_tasks WHERE expires_at <= $1', [now]);
      await query(
        `INSERT INTO seedance_tasks (task_id, member, tool, job_id, submission, warnings, result, created_at, ttl_ms,
           expires_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10)`,
        [
          task.taskId,
          task.member,
          task.tool,
          task.jobId,
          task.submission,
          JSON.stringify(task.warnings),
          task.result === null ? null : JSON.stringify(task.result),
          now,
          task.ttlMs,
          taskExpiry(now, task.ttlMs),
        ],
      );
      return { ...task, createdAt: now.toISOString(), cancelledAt: null, cancelMessage: null };
    });
  }

  async getTask(taskId: string, member: string): Promise<TaskRecord | undefined> {
    const [row] = await this.query<TaskRow>(
      'SELECT * FROM seedance_tasks WHERE task_id = $1 AND member = $2 AND expires_at > $3',
      [taskId, member, this.now()],
    );
    return row === undefined ? undefined : toTask(row);
  }

  async listTasks(member: string, limit: number, cursor?: string): Promise<TaskPage> {
    const before = cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeTaskCursor(cursor);
    const size = Math.max(1, Math.floor(limit));
    const rows = await this.query<TaskRow>(
      `SELECT * FROM seedance_tasks WHERE member = $1 AND seq < $2 AND expires_at > $3
       ORDER BY seq DESC LIMIT $4`,
      [member, before, this.now(), size + 1],
    );
    const last = rows[size - 1];
    return {
      tasks: rows.slice(0, size).map(toTask),
      nextCursor: rows.length > size && last !== undefined ? encodeTaskCursor(Number(last.seq)) : null,
    };
  }

  async cancelTask(taskId: string, member: string, message: string): Promise<boolean> {
    const now = this.now();
    const rows = await this.query(
      `UPDATE seedance_tasks SET cancelled_at = $1, cancel_message = $2
       WHERE task_id = $3 AND member = $4 AND cancelled_at IS NULL AND expires_at > $1
       RETURNING task_id`,
      [now, message, taskId, member],
    );
    return rows.length === 1;
  }

  async storeTaskResult(taskId: string, member: string, result: Record<string, unknown>): Promise<void> {
    await this.query('UPDATE seedance_tasks SET result = $1::jsonb WHERE task_id = $2 AND member = $3', [
      JSON.stringify(result),
      taskId,
      member,
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.leases.close();
    // Leaving on purpose: another host may take this one's jobs at once instead of waiting for the lease to run out.
    await this.db.query('DELETE FROM seedance_hosts WHERE owner = $1', [this.owner]).catch(() => undefined);
    await this.db.end();
  }

  private at(): string {
    return this.now().toISOString();
  }
}

/** The record with this key or job id, its row locked until the transaction ends. */
async function locked(query: Query, column: 'key' | 'job_id', value: string): Promise<JobRecord> {
  const [row] = await query<JobRow>(`SELECT * FROM seedance_jobs WHERE ${column} = $1 FOR UPDATE`, [value]);
  if (row === undefined) {
    throw new UnknownRecordError(`the ledger has no record of ${column === 'key' ? 'key' : 'job'} ${value}`);
  }
  return toRecord(row);
}

/**
 * Writes a changed record back (nothing, when `next` is `record`: a poll that changes nothing is not worth a write)
 * and announces the change at commit to every host that follows jobs: they answer their own waiters from the ledger.
 */
async function save(query: Query, record: JobRecord, next: JobRecord): Promise<JobRecord> {
  if (next === record) return record;
  await query(
    `UPDATE seedance_jobs SET owner = $2, job_id = $3, status = $4, progress = $5, charged = $6, refunded = $7,
       failure = $8, result = $9::jsonb, downloads = $10::jsonb, updated_at = $11, upstream_anomalies = $12::jsonb
     WHERE key = $1`,
    [
      next.key,
      next.owner,
      next.jobId,
      next.status,
      next.progress,
      next.charged,
      next.refunded,
      next.failure,
      next.result === null ? null : JSON.stringify(next.result),
      JSON.stringify(next.downloads),
      new Date(next.updatedAt),
      JSON.stringify(next.upstreamAnomalies),
    ],
  );
  if (next.jobId !== null) await query('SELECT pg_notify($1, $2)', [JOB_CHANNEL, next.jobId]);
  return next;
}

/** Inserts a new record; `ifNew` leaves one already there (a job found upstream twice) as it is. */
async function insert(query: Query, r: JobRecord, ifNew = false): Promise<void> {
  await query(
    `INSERT INTO seedance_jobs (key, member, request_hash, request, estimate, estimate_credits, created_at, owner,
       job_id, status, progress, charged, refunded, failure, result, downloads, discovered, updated_at,
       upstream_anomalies)
     VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16::jsonb, $17, $18,
       $19::jsonb)
     ${ifNew ? 'ON CONFLICT DO NOTHING' : ''}`,
    [
      r.key,
      r.member,
      r.requestHash,
      JSON.stringify(r.request),
      r.estimate === null ? null : JSON.stringify(r.estimate),
      r.estimate === null ? null : credits(r.estimate.credits, 'an estimate'),
      new Date(r.createdAt),
      r.owner,
      r.jobId,
      r.status,
      r.progress,
      r.charged,
      r.refunded,
      r.failure,
      r.result === null ? null : JSON.stringify(r.result),
      JSON.stringify(r.downloads),
      r.discovered,
      new Date(r.updatedAt),
      JSON.stringify(r.upstreamAnomalies),
    ],
  );
}

/**
 * Poll leases in the database, renewed by each poll of the holder, with expiry judged by the database's clock; and
 * the change feed, one LISTEN connection per host, opened again after it is lost.
 */
class PostgresJobLeases implements JobLeases {
  private readonly listeners = new Set<(jobId: string) => void>();
  private feed: Client | undefined;
  private relisten: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly holder: string,
    private readonly leaseMs: number,
  ) {}

  async hold(jobId: string): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO seedance_job_leases (job_id, holder, expires_at)
       VALUES ($1, $2, now() + $3 * interval '1 millisecond')
       ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE seedance_job_leases.holder = excluded.holder OR seedance_job_leases.expires_at <= now()
       RETURNING job_id`,
      [jobId, this.holder, this.leaseMs],
    );
    return rows.length === 1;
  }

  async release(jobId: string): Promise<void> {
    await this.db
      .query('DELETE FROM seedance_job_leases WHERE job_id = $1 AND holder = $2', [jobId, this.holder])
      .catch((error: unknown) => log.debug('ledger: could not give up a lease', { error: describe(error) }));
  }

  onChange(changed: (jobId: string) => void): () => void {
    this.listeners.add(changed);
    if (this.feed === undefined && this.relisten === undefined) void this.listen();
    return () => {
      this.listeners.delete(changed);
    };
  }

  /** Gives up every lease of this host and stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.relisten);
    await this.feed?.end().catch(() => undefined);
    await this.db
      .query('DELETE FROM seedance_job_leases WHERE holder = $1', [this.holder])
      .catch(() => undefined);
  }

  private async listen(): Promise<void> {
    if (this.closed) return;
    const client = this.db.dedicated();
    this.feed = client;
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      this.feed = undefined;
      void client.end().catch(() => undefined);
      if (this.closed) return;
      // Meanwhile followers look at the ledger on their poll schedule; they only hear of changes later.
      log.debug('ledger: lost the job change feed; listening again shortly', {
        error: error === undefined ? 'closed' : describe(error),
      });
      this.relisten = setTimeout(() => {
        this.relisten = undefined;
        void this.listen();
      }, RELISTEN_MS);
      this.relisten.unref();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      if (message.channel !== JOB_CHANNEL || message.payload === undefined) return;
      for (const listener of [...this.listeners]) listener(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_CHANNEL}`);
    } catch (error) {
      onLost(error as Error);
    }
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
]);
/** node-postgres reports a lost or unobtainable connection in words, without a code. */
const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|not queryable|Client was closed/i;

/** Connection failures (refused, reset, closed, the server shutting down) and nothing else. */
function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    // SQLSTATE class 08 (connection exception); 57P01-03: the server shutting down or starting up.
    if (code.startsWith('08') || ['57P01', '57P02', '57P03'].includes(code) || CONNECTION_CODES.has(code))
      return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isConnectionFailure);
  return CONNECTION_MESSAGES.test(error.message);
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof LedgerUnavailableError || !isConnectionFailure(error)) throw error;
    throw new LedgerUnavailableError(
      `the PostgreSQL server could not be reached (${describe(error)})`,
      UNREACHABLE_FIX,
      error,
    );
  }
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message || error.name : String(error);
  return sanitize(text);
}
