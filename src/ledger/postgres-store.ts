/**
 * The ledger in PostgreSQL, for several hosts that share one budget, one job list and one idempotency record.
 *
 * - Every decision is one transaction. A reservation locks the one budget row first, so the budget check, the attach
 *   check and the new record happen as one step across all hosts; a job's changes lock its row; a download claim
 *   takes a transaction-scoped advisory lock on its job id.
 * - A job's own changes follow the same rules as the memory ledger (state.ts applies them to the locked row).
 * - Hosts renew a lease row; whether a host is gone is judged by the database's clock (`now()`), never a host's.
 * - The connection lost mid-call: the call fails with LedgerUnavailableError before anything is sent upstream; the
 *   pool connects again on the next call.
 *
 * The client is `pg` (node-postgres), loaded only when SEEDANCE_LEDGER_URL is set.
 */
import { randomUUID } from 'node:crypto';
import type { Client, Pool, PoolClient, QueryResultRow } from 'pg';
import { SeedanceError } from '../core/errors.js';
import { log } from '../core/log.js';
import { registerSecret, sanitize } from '../core/redact.js';
import { MODEL } from '../domain/params.js';
import { currentOwner, isProcessAlive, UnknownRecordError } from './ledger.js';
import { JOB_CHANNEL, MIGRATION_LOCK, MIGRATIONS } from './postgres-schema.js';
import {
  decodeCursor,
  encodeCursor,
  type LedgerEvent,
  LedgerState,
  newRecord,
  periodStart,
} from './state.js';
import type {
  BudgetSnapshot,
  DownloadClaim,
  DownloadedFile,
  JobLeases,
  JobRecord,
  JobUpdate,
  Ledger,
  LedgerOptions,
  ListQuery,
  ReserveOutcome,
  ReserveRequest,
  UploadCacheEntry,
} from './types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DOWNLOAD_LEASE_MS = 10 * 60 * 1000;
/** How long a host counts as alive after its last renewal; renewed every third of it. */
export const DEFAULT_HOST_LEASE_MS = 15_000;
const OPEN = ['submitting', 'QUEUED', 'PROCESSING'];
/** How soon the change feed tries again after losing its connection. */
const RELISTEN_MS = 1_000;

/** The shared ledger cannot be reached: nothing was decided, and nothing was sent upstream. */
export class LedgerUnavailableError extends SeedanceError {
  constructor(cause: unknown) {
    super(
      'ledger_unavailable',
      `The shared ledger (PostgreSQL) could not be reached: ${describe(cause)}. Nothing was submitted or charged.`,
      {
        recovery:
          'Call again in a few seconds: the server reconnects by itself, and an identical call never pays twice. If it persists, ask the user to check the database named by SEEDANCE_LEDGER_URL.',
        cause,
      },
    );
  }
}

export interface PostgresLedgerOptions extends LedgerOptions {
  /** How long a host counts as alive after its last renewal (15 s); its jobs are taken over after that. */
  hostLeaseMs?: number;
}

/** Runs a statement; resolves with its rows. */
type Query = <R extends QueryResultRow>(text: string, values?: unknown[]) => Promise<R[]>;

/** A ledger on the PostgreSQL database at `url`, with its schema brought up to date first. */
export async function openPostgresLedger(url: string, options: PostgresLedgerOptions): Promise<Ledger> {
  // The password never appears in a log or a result, whether it came in the URL or in PGPASSWORD.
  registerSecret(safeUrl(url)?.password || undefined);
  registerSecret(process.env.PGPASSWORD);
  const { default: pg } = await import('pg');
  const config = {
    connectionString: url,
    application_name: 'seedance-mcp',
    connectionTimeoutMillis: 10_000,
  };
  const pool = new pg.Pool({ ...config, max: 10, idleTimeoutMillis: 30_000 });
  // An idle connection that the server closes (a restart) is dropped from the pool; the next call opens another.
  pool.on('error', (error) => log.debug('ledger: an idle connection was lost', { error: describe(error) }));
  const db = new Database(pool, () => new pg.Client(config));
  try {
    await migrate(db);
    const ledger = new PostgresLedger(db, options);
    await ledger.start();
    return ledger;
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
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
      throw new SeedanceError(
        'ledger_schema',
        `The shared ledger's schema is version ${newest}, newer than this server knows (${known}).`,
        { recovery: 'Upgrade seedance-mcp on this host to the version the other hosts run.' },
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
  request_hash: string;
  request: JobRecord['request'];
  estimate: JobRecord['estimate'];
  created_at: Date;
  owner: string;
  job_id: string | null;
  status: JobRecord['status'];
  progress: number | null;
  charged: number | null;
  refunded: boolean;
  failure: string | null;
  result: JobRecord['result'];
  downloads: DownloadedFile[];
  discovered: boolean;
  updated_at: Date;
}

function toRecord(row: JobRow): JobRecord {
  return {
    key: row.key,
    requestHash: row.request_hash,
    request: row.request,
    estimate: row.estimate,
    createdAt: row.created_at.toISOString(),
    owner: row.owner,
    jobId: row.job_id,
    status: row.status,
    progress: row.progress,
    charged: row.charged,
    refunded: row.refunded,
    failure: row.failure,
    result: row.result,
    downloads: row.downloads,
    discovered: row.discovered,
    updatedAt: row.updated_at.toISOString(),
  };
}

class PostgresLedger implements Ledger {
  readonly leases: PostgresJobLeases;
  private readonly now: () => Date;
  private readonly owner: string;
  private readonly isOwnerAlive: (owner: string) => boolean;
  private readonly hostLeaseMs: number;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly db: Database,
    private readonly options: PostgresLedgerOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.owner = options.owner ?? currentOwner();
    this.isOwnerAlive = options.isOwnerAlive ?? isProcessAlive;
    this.hostLeaseMs = options.hostLeaseMs ?? DEFAULT_HOST_LEASE_MS;
    this.leases = new PostgresJobLeases(db, this.owner, this.hostLeaseMs);
  }

  async start(): Promise<void> {
    await this.renew();
    this.heartbeat = setInterval(() => {
      this.renew().catch((error: unknown) =>
        log.warn('ledger: could not renew this host’s lease', { error: describe(error) }),
      );
    }, this.hostLeaseMs / 3);
    this.heartbeat.unref();
  }

  private async renew(): Promise<void> {
    await this.db.query(
      `INSERT INTO seedance_hosts (owner, alive_until) VALUES ($1, now() + $2 * interval '1 millisecond')
       ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until`,
      [this.owner, this.hostLeaseMs],
    );
  }

  reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    return this.db.transaction(async (query) => {
      await query('SELECT id FROM seedance_budget_lock WHERE id = 1 FOR UPDATE');
      const now = this.now();
      const keyed =
        request.key === undefined
          ? undefined
          : (await query<JobRow>('SELECT * FROM seedance_jobs WHERE key = $1', [request.key]))[0];
      // The agent's own key names one submission forever; without a known key, an identical live request is the same one.
      const existingRow = keyed ?? (request.newJob ? undefined : await this.identical(query, request, now));
      const existing = existingRow === undefined ? undefined : toRecord(existingRow);
      if (existing !== undefined && existing.requestHash !== request.requestHash) {
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
          record: { ...existing, owner: this.owner, updatedAt: now.toISOString() },
          budget: await this.budgetIn(query, now),
        };
      }
      if (existing !== undefined && existing.status !== 'rejected') {
        return { kind: 'attached', record: existing, budget: await this.budgetIn(query, now) };
      }
      // A new reservation, or a key whose earlier POST was refused: that one cost nothing, so it may be tried again.
      const before = await this.budgetIn(query, now);
      const credits = validCredits(request.estimate.credits);
      if (before.remaining !== null && credits > before.remaining) {
        return { kind: 'over_budget', budget: before, needed: credits };
      }
      const record = newRecord({
        key: existing?.key ?? request.key ?? this.options.makeKey?.() ?? `seedance-mcp-${randomUUID()}`,
        requestHash: request.requestHash,
        request: request.request,
        estimate: request.estimate,
        owner: this.owner,
        jobId: null,
        status: 'submitting',
        discovered: false,
        at: now.toISOString(),
      });
      await write(query, record);
      return { kind: 'reserved', record, budget: await this.budgetIn(query, now) };
    });
  }

  /** The newest identical request still worth attaching to: in flight, or completed within the attach window. */
  private async identical(query: Query, request: ReserveRequest, now: Date): Promise<JobRow | undefined> {
    const since = new Date(now.getTime() - (this.options.attachWindowMs ?? DAY_MS));
    const rows = await query<JobRow>(
      `SELECT * FROM seedance_jobs
       WHERE request_hash = $1 AND NOT discovered
         AND (status = ANY($2::text[]) OR (status = 'COMPLETED' AND updated_at >= $3))
       ORDER BY created_at DESC LIMIT 1`,
      [request.requestHash, OPEN, since],
    );
    return rows[0];
  }

  budget(): Promise<BudgetSnapshot> {
    return this.budgetIn(this.db.query, this.now());
  }

  private async budgetIn(query: Query, now: Date): Promise<BudgetSnapshot> {
    const { budgetLimit: limit, period } = this.options;
    const start = periodStart(period, now);
    const [totals] = await query<{ spent: number; reserved: number }>(
      `SELECT
         coalesce(sum(coalesce(charged, estimate_credits, 0)) FILTER (WHERE status = 'COMPLETED'), 0)::float8 AS spent,
         coalesce(sum(coalesce(charged, estimate_credits, 0)) FILTER (WHERE status = ANY($1::text[])), 0)::float8
           AS reserved
       FROM seedance_jobs
       WHERE NOT discovered AND ($2::timestamptz IS NULL OR created_at >= $2)`,
      [OPEN, start],
    );
    const spent = totals?.spent ?? 0;
    const reserved = totals?.reserved ?? 0;
    return {
      limit,
      period,
      periodStart: start === null ? null : start.toISOString(),
      spent,
      reserved,
      remaining: limit === null ? null : Math.max(0, limit - spent - reserved),
    };
  }

  markSubmitted(key: string, jobId: string): Promise<JobRecord> {
    return this.db.transaction((query) =>
      change(query, key, `key ${key}`, { type: 'submitted', key, jobId, at: this.at() }),
    );
  }

  markRejected(key: string, reason: string): Promise<JobRecord> {
    return this.db.transaction((query) =>
      change(query, key, `key ${key}`, { type: 'rejected', key, reason, at: this.at() }),
    );
  }

  updateJob(jobId: string, update: JobUpdate): Promise<JobRecord> {
    return this.db.transaction(async (query) =>
      change(query, await keyOf(query, jobId), `job ${jobId}`, {
        type: 'job',
        jobId,
        update: validUpdate(update),
        at: this.at(),
      }),
    );
  }

  recordDiscovered(jobId: string, update: JobUpdate): Promise<JobRecord> {
    return this.db.transaction(async (query) => {
      const at = this.at();
      const record = newRecord({
        key: `discovered-${jobId}`,
        requestHash: '',
        request: { model: MODEL, prompt: update.prompt ?? '' },
        estimate: null,
        owner: this.owner,
        jobId,
        status: 'QUEUED',
        discovered: true,
        at,
      });
      await write(query, record, true);
      return change(query, await keyOf(query, jobId), `job ${jobId}`, {
        type: 'job',
        jobId,
        update: validUpdate(update),
        at,
      });
    });
  }

  claimDownload(jobId: string): Promise<DownloadClaim> {
    return this.db.transaction(async (query) => {
      await query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`seedance-download:${jobId}`]);
      const [job] = await query<{ downloads: DownloadedFile[] }>(
        'SELECT downloads FROM seedance_jobs WHERE job_id = $1',
        [jobId],
      );
      if (job !== undefined && job.downloads.length > 0) return { kind: 'done', files: job.downloads };
      const [held] = await query<{ owner: string; live: boolean }>(
        `SELECT c.owner, c.until > now() AND EXISTS (
           SELECT 1 FROM seedance_hosts h WHERE h.owner = c.owner AND h.alive_until > now()) AS live
         FROM seedance_download_claims c WHERE c.job_id = $1`,
        [jobId],
      );
      if (held !== undefined && held.owner !== this.owner && held.live && this.isOwnerAlive(held.owner)) {
        return { kind: 'busy' };
      }
      await query(
        `INSERT INTO seedance_download_claims (job_id, owner, until)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, until = excluded.until`,
        [jobId, this.owner, this.options.downloadLeaseMs ?? DEFAULT_DOWNLOAD_LEASE_MS],
      );
      return { kind: 'claimed' };
    });
  }

  recordDownload(jobId: string, files: DownloadedFile[]): Promise<JobRecord> {
    return this.db.transaction(async (query) => {
      await query('DELETE FROM seedance_download_claims WHERE job_id = $1', [jobId]);
      return change(query, await keyOf(query, jobId), `job ${jobId}`, {
        type: 'downloaded',
        jobId,
        files,
        at: this.at(),
      });
    });
  }

  async releaseDownload(jobId: string): Promise<void> {
    await this.db.query('DELETE FROM seedance_download_claims WHERE job_id = $1 AND owner = $2', [
      jobId,
      this.owner,
    ]);
  }

  async findByJobId(jobId: string): Promise<JobRecord | undefined> {
    const [row] = await this.db.query<JobRow>('SELECT * FROM seedance_jobs WHERE job_id = $1', [jobId]);
    return row === undefined ? undefined : toRecord(row);
  }

  async findByKey(key: string): Promise<JobRecord | undefined> {
    const [row] = await this.db.query<JobRow>('SELECT * FROM seedance_jobs WHERE key = $1', [key]);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Newest first; the cursor is the last record's (createdAt, key), as in the other ledgers. */
  async list(query: ListQuery): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const rows = await this.db.query<JobRow>(
      `SELECT * FROM seedance_jobs
       WHERE ($1::text IS NULL OR status = $1)
         AND ($2::timestamptz IS NULL OR created_at < $2 OR (created_at = $2 AND key COLLATE "C" < $3))
       ORDER BY created_at DESC, key COLLATE "C" DESC
       LIMIT $4`,
      [
        query.status ?? null,
        after === undefined ? null : new Date(after.createdAt),
        after?.key ?? null,
        query.limit + 1,
      ],
    );
    const records = rows.slice(0, query.limit).map(toRecord);
    const last = records.at(-1);
    return {
      records,
      nextCursor:
        rows.length > query.limit && last !== undefined ? encodeCursor(last.createdAt, last.key) : null,
    };
  }

  /**
   * Jobs in flight whose host is gone (its lease ran out by the database's clock, or it is a dead process of this
   * machine), taken over by this host in the same transaction, so that exactly one host follows each of them; and
   * this host's own, so that a job it stopped following (the database was away a while) is followed again. Asked
   * at start and then every third of the host lease.
   */
  orphans(): Promise<JobRecord[]> {
    return this.db.transaction(async (query) => {
      const candidates = await query<JobRow & { host_alive: boolean }>(
        `SELECT j.*, EXISTS (
           SELECT 1 FROM seedance_hosts h WHERE h.owner = j.owner AND h.alive_until > now()) AS host_alive
         FROM seedance_jobs j
         WHERE j.job_id IS NOT NULL AND j.status = ANY($1::text[])
         FOR UPDATE OF j SKIP LOCKED`,
        [OPEN],
      );
      const gone = candidates.filter(
        (row) => row.owner !== this.owner && (!row.host_alive || !this.isOwnerAlive(row.owner)),
      );
      const taken =
        gone.length === 0
          ? []
          : await query<JobRow>(
              'UPDATE seedance_jobs SET owner = $1 WHERE key = ANY($2::text[]) RETURNING *',
              [this.owner, gone.map((row) => row.key)],
            );
      const own = candidates.filter((row) => row.owner === this.owner);
      return [...own, ...taken].map(toRecord);
    });
  }

  async getUpload(sha256: string, kind: UploadCacheEntry['kind']): Promise<UploadCacheEntry | undefined> {
    const [row] = await this.db.query<{
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
    await this.db.query(
      `INSERT INTO seedance_uploads (sha256, kind, bytes, asset_id, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (sha256, kind) DO UPDATE
       SET bytes = excluded.bytes, asset_id = excluded.asset_id, expires_at = excluded.expires_at`,
      [entry.sha256, entry.kind, entry.bytes, entry.assetId, new Date(entry.expiresAt)],
    );
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

async function keyOf(query: Query, jobId: string): Promise<string> {
  const [row] = await query<{ key: string }>('SELECT key FROM seedance_jobs WHERE job_id = $1', [jobId]);
  if (row === undefined) throw new UnknownRecordError(`the ledger has no record of job ${jobId}`);
  return row.key;
}

/** Applies one event to the locked row by the memory ledger's own rules, and writes the row back if it changed. */
async function change(query: Query, key: string, what: string, event: LedgerEvent): Promise<JobRecord> {
  const [row] = await query<JobRow>('SELECT * FROM seedance_jobs WHERE key = $1 FOR UPDATE', [key]);
  if (row === undefined) throw new UnknownRecordError(`the ledger has no record of ${what}`);
  const before = toRecord(row);
  const state = new LedgerState();
  state.apply({ type: 'reserved', record: before });
  state.apply(event);
  const after = state.records.get(key);
  if (after === undefined) throw new UnknownRecordError(`the ledger has no record of ${what}`);
  if (JSON.stringify({ ...after, updatedAt: '' }) === JSON.stringify({ ...before, updatedAt: '' }))
    return before;
  await write(query, after);
  // Delivered at commit, to every host that follows jobs: they answer their own waiters from the ledger.
  if (after.jobId !== null) await query('SELECT pg_notify($1, $2)', [JOB_CHANNEL, after.jobId]);
  return after;
}

/** Inserts or overwrites a record; `onlyNew` leaves an existing one as it is. */
async function write(query: Query, record: JobRecord, onlyNew = false): Promise<void> {
  const columns = `(key, request_hash, request, estimate, estimate_credits, created_at, owner, job_id, status,
      progress, charged, refunded, failure, result, downloads, discovered, updated_at)
    VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, $16, $17)`;
  const onConflict = onlyNew
    ? 'ON CONFLICT DO NOTHING'
    : `ON CONFLICT (key) DO UPDATE SET
        request_hash = excluded.request_hash, request = excluded.request, estimate = excluded.estimate,
        estimate_credits = excluded.estimate_credits, created_at = excluded.created_at, owner = excluded.owner,
        job_id = excluded.job_id, status = excluded.status, progress = excluded.progress, charged = excluded.charged,
        refunded = excluded.refunded, failure = excluded.failure, result = excluded.result,
        downloads = excluded.downloads, discovered = excluded.discovered, updated_at = excluded.updated_at`;
  await query(`INSERT INTO seedance_jobs ${columns} ${onConflict}`, [
    record.key,
    record.requestHash,
    JSON.stringify(record.request),
    record.estimate === null ? null : JSON.stringify(record.estimate),
    record.estimate?.credits ?? null,
    new Date(record.createdAt),
    record.owner,
    record.jobId,
    record.status,
    record.progress,
    record.charged,
    record.refunded,
    record.failure,
    record.result === null ? null : JSON.stringify(record.result),
    JSON.stringify(record.downloads),
    record.discovered,
    new Date(record.updatedAt),
  ]);
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

/** An amount from outside must be a finite number of credits, not negative: anything else refuses to spend. */
function validCredits(credits: number): number {
  if (!Number.isFinite(credits) || credits < 0) {
    throw new SeedanceError('invalid_estimate', `An estimate of ${credits} credits cannot be budgeted.`, {
      recovery: 'Nothing was submitted. Check SEEDANCE_PRICES_FILE: every price must be a positive number.',
    });
  }
  return credits;
}

/** An upstream creditCost that is negative or not finite is not believed: the job is charged at its estimate. */
function validUpdate(update: JobUpdate): JobUpdate {
  const cost = update.creditCost;
  if (cost === null || (Number.isFinite(cost) && cost >= 0)) return update;
  log.warn('ledger: ignored an impossible creditCost from upstream', { creditCost: String(cost) });
  return { ...update, creditCost: null };
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
    throw new LedgerUnavailableError(error);
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
