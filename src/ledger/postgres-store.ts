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
 */
import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
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
  ReserveOutcome,
  ReserveRequest,
} from './types.js';

type Sql = postgres.Sql;
type Tx = postgres.TransactionSql;

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_DOWNLOAD_LEASE_MS = 10 * 60 * 1000;
/** How long a host counts as alive after its last renewal; renewed every third of it. */
export const DEFAULT_HOST_LEASE_MS = 15_000;
const OPEN = ['submitting', 'QUEUED', 'PROCESSING'];

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

/** A ledger on the PostgreSQL database at `url`, with its schema brought up to date first. */
export async function openPostgresLedger(url: string, options: PostgresLedgerOptions): Promise<Ledger> {
  // The password never appears in a log or a result, whether it came in the URL or in PGPASSWORD.
  registerSecret(safeUrl(url)?.password || undefined);
  registerSecret(process.env.PGPASSWORD);
  const { default: connect } = await import('postgres');
  const sql = connect(url, {
    max: 10,
    // Idle connections are closed, so that a restarted database is met with fresh ones.
    idle_timeout: 30,
    connect_timeout: 10,
    onnotice: () => undefined,
    connection: { application_name: 'seedance-mcp' },
  });
  try {
    await guarded(() => migrate(sql));
    const ledger = new PostgresLedger(sql, options);
    await ledger.start();
    return ledger;
  } catch (error) {
    await sql.end({ timeout: 1 });
    throw error;
  }
}

/**
 * Applies the migrations not yet applied, in one transaction under a transaction-scoped advisory lock: of hosts
 * starting together, one migrates and the others, waiting on the lock, then find nothing left to do.
 */
export function migrate(sql: Sql): Promise<number[]> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS seedance_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set(
      (await tx<{ version: number }[]>`SELECT version FROM seedance_migrations`).map((r) => r.version),
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
      await tx.unsafe(migration.sql);
      await tx`INSERT INTO seedance_migrations (version, name) VALUES (${migration.version}, ${migration.name})`;
      applied.push(migration.version);
      log.info('ledger: schema migrated', { version: migration.version });
    }
    return applied;
  }) as Promise<number[]>;
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
    private readonly sql: Sql,
    private readonly options: PostgresLedgerOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.owner = options.owner ?? currentOwner();
    this.isOwnerAlive = options.isOwnerAlive ?? isProcessAlive;
    this.hostLeaseMs = options.hostLeaseMs ?? DEFAULT_HOST_LEASE_MS;
    this.leases = new PostgresJobLeases(sql, this.owner, this.hostLeaseMs);
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
    await this.sql`
      INSERT INTO seedance_hosts (owner, alive_until)
      VALUES (${this.owner}, now() + ${this.hostLeaseMs} * interval '1 millisecond')
      ON CONFLICT (owner) DO UPDATE SET alive_until = excluded.alive_until`;
  }

  reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    return this.transaction(async (tx) => {
      await tx`SELECT id FROM seedance_budget_lock WHERE id = 1 FOR UPDATE`;
      const now = this.now();
      const keyed =
        request.key === undefined
          ? undefined
          : (await tx<JobRow[]>`SELECT * FROM seedance_jobs WHERE key = ${request.key}`)[0];
      // The agent's own key names one submission forever; without a known key, an identical live request is the same one.
      const existingRow = keyed ?? (request.newJob ? undefined : await this.identical(tx, request, now));
      const existing = existingRow === undefined ? undefined : toRecord(existingRow);
      if (existing !== undefined && existing.requestHash !== request.requestHash) {
        return { kind: 'key_conflict', record: existing };
      }
      if (existing !== undefined && existing.status === 'submitting' && existing.jobId === null) {
        await tx`UPDATE seedance_jobs SET owner = ${this.owner}, updated_at = ${now} WHERE key = ${existing.key}`;
        return {
          kind: 'resume',
          record: { ...existing, owner: this.owner, updatedAt: now.toISOString() },
          budget: await this.budgetIn(tx, now),
        };
      }
      if (existing !== undefined && existing.status !== 'rejected') {
        return { kind: 'attached', record: existing, budget: await this.budgetIn(tx, now) };
      }
      // A new reservation, or a key whose earlier POST was refused: that one cost nothing, so it may be tried again.
      const before = await this.budgetIn(tx, now);
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
      await this.write(tx, record);
      return { kind: 'reserved', record, budget: await this.budgetIn(tx, now) };
    });
  }

  /** The newest identical request still worth attaching to: in flight, or completed within the attach window. */
  private async identical(tx: Tx, request: ReserveRequest, now: Date): Promise<JobRow | undefined> {
    const since = new Date(now.getTime() - (this.options.attachWindowMs ?? DAY_MS));
    const rows = await tx<JobRow[]>`
      SELECT * FROM seedance_jobs
      WHERE request_hash = ${request.requestHash} AND NOT discovered
        AND (status IN ${tx(OPEN)} OR (status = 'COMPLETED' AND updated_at >= ${since}))
      ORDER BY created_at DESC LIMIT 1`;
    return rows[0];
  }

  budget(): Promise<BudgetSnapshot> {
    return guarded(() => this.budgetIn(this.sql, this.now()));
  }

  private async budgetIn(db: Sql | Tx, now: Date): Promise<BudgetSnapshot> {
    const { budgetLimit: limit, period } = this.options;
    const start = periodStart(period, now);
    const [totals] = await db<{ spent: number; reserved: number }[]>`
      SELECT
        coalesce(sum(coalesce(charged, estimate_credits, 0)) FILTER (WHERE status = 'COMPLETED'), 0)::float8 AS spent,
        coalesce(sum(coalesce(charged, estimate_credits, 0)) FILTER (WHERE status IN ${db(OPEN)}), 0)::float8 AS reserved
      FROM seedance_jobs
      WHERE NOT discovered ${start === null ? db`` : db`AND created_at >= ${start}`}`;
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
    return this.change(key, `key ${key}`, () => ({ type: 'submitted', key, jobId, at: this.at() }));
  }

  markRejected(key: string, reason: string): Promise<JobRecord> {
    return this.change(key, `key ${key}`, () => ({ type: 'rejected', key, reason, at: this.at() }));
  }

  updateJob(jobId: string, update: JobUpdate): Promise<JobRecord> {
    return this.transaction(async (tx) => {
      const key = await this.keyOf(tx, jobId);
      return this.changeIn(tx, key, `job ${jobId}`, () => ({
        type: 'job',
        jobId,
        update: validUpdate(update),
        at: this.at(),
      }));
    });
  }

  recordDiscovered(jobId: string, update: JobUpdate): Promise<JobRecord> {
    return this.transaction(async (tx) => {
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
      await this.write(tx, record, true);
      const key = await this.keyOf(tx, jobId);
      return this.changeIn(tx, key, `job ${jobId}`, () => ({
        type: 'job',
        jobId,
        update: validUpdate(update),
        at,
      }));
    });
  }

  claimDownload(jobId: string): Promise<DownloadClaim> {
    return this.transaction(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(hashtextextended(${`seedance-download:${jobId}`}, 0))`;
      const [job] = await tx<{ downloads: DownloadedFile[] }[]>`
        SELECT downloads FROM seedance_jobs WHERE job_id = ${jobId}`;
      if (job !== undefined && job.downloads.length > 0) return { kind: 'done', files: job.downloads };
      const [held] = await tx<{ owner: string; live: boolean }[]>`
        SELECT c.owner, c.until > now() AND EXISTS (
          SELECT 1 FROM seedance_hosts h WHERE h.owner = c.owner AND h.alive_until > now()) AS live
        FROM seedance_download_claims c WHERE c.job_id = ${jobId}`;
      if (held !== undefined && held.owner !== this.owner && held.live && this.isOwnerAlive(held.owner)) {
        return { kind: 'busy' };
      }
      const leaseMs = this.options.downloadLeaseMs ?? DEFAULT_DOWNLOAD_LEASE_MS;
      await tx`
        INSERT INTO seedance_download_claims (job_id, owner, until)
        VALUES (${jobId}, ${this.owner}, now() + ${leaseMs} * interval '1 millisecond')
        ON CONFLICT (job_id) DO UPDATE SET owner = excluded.owner, until = excluded.until`;
      return { kind: 'claimed' };
    });
  }

  recordDownload(jobId: string, files: DownloadedFile[]): Promise<JobRecord> {
    return this.transaction(async (tx) => {
      await tx`DELETE FROM seedance_download_claims WHERE job_id = ${jobId}`;
      const key = await this.keyOf(tx, jobId);
      return this.changeIn(tx, key, `job ${jobId}`, () => ({
        type: 'downloaded',
        jobId,
        files,
        at: this.at(),
      }));
    });
  }

  async releaseDownload(jobId: string): Promise<void> {
    await guarded(
      () => this.sql`DELETE FROM seedance_download_claims WHERE job_id = ${jobId} AND owner = ${this.owner}`,
    );
  }

  findByJobId(jobId: string): Promise<JobRecord | undefined> {
    return guarded(async () => {
      const [row] = await this.sql<JobRow[]>`SELECT * FROM seedance_jobs WHERE job_id = ${jobId}`;
      return row === undefined ? undefined : toRecord(row);
    });
  }

  findByKey(key: string): Promise<JobRecord | undefined> {
    return guarded(async () => {
      const [row] = await this.sql<JobRow[]>`SELECT * FROM seedance_jobs WHERE key = ${key}`;
      return row === undefined ? undefined : toRecord(row);
    });
  }

  async list(query: {
    status?: JobRecord['status'];
    limit: number;
    cursor?: string;
  }): Promise<{ records: JobRecord[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const sql = this.sql;
    const rows = await guarded(
      () => sql<JobRow[]>`
        SELECT * FROM seedance_jobs
        WHERE true
          ${query.status === undefined ? sql`` : sql`AND status = ${query.status}`}
          ${
            after === undefined
              ? sql``
              : sql`AND (created_at < ${new Date(after.createdAt)}
                    OR (created_at = ${new Date(after.createdAt)} AND key COLLATE "C" < ${after.key}))`
          }
        ORDER BY created_at DESC, key COLLATE "C" DESC
        LIMIT ${query.limit + 1}`,
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
    return this.transaction(async (tx) => {
      const candidates = await tx<(JobRow & { host_alive: boolean })[]>`
        SELECT j.*, EXISTS (
          SELECT 1 FROM seedance_hosts h WHERE h.owner = j.owner AND h.alive_until > now()) AS host_alive
        FROM seedance_jobs j
        WHERE j.job_id IS NOT NULL AND j.status IN ${tx(OPEN)}
        FOR UPDATE OF j SKIP LOCKED`;
      const gone = candidates.filter(
        (row) => row.owner !== this.owner && (!row.host_alive || !this.isOwnerAlive(row.owner)),
      );
      const taken =
        gone.length === 0
          ? []
          : await tx<JobRow[]>`
              UPDATE seedance_jobs SET owner = ${this.owner}
              WHERE key IN ${tx(gone.map((row) => row.key))} RETURNING *`;
      const own = candidates.filter((row) => row.owner === this.owner);
      return [...own, ...taken].map(toRecord);
    });
  }

  getUpload(sha256: string, kind: 'image' | 'video' | 'audio') {
    return guarded(async () => {
      const [row] = await this.sql<
        { sha256: string; kind: typeof kind; bytes: string; asset_id: string; expires_at: Date }[]
      >`SELECT * FROM seedance_uploads WHERE sha256 = ${sha256} AND kind = ${kind} AND expires_at > ${this.now()}`;
      return row === undefined
        ? undefined
        : {
            sha256: row.sha256,
            kind: row.kind,
            bytes: Number(row.bytes),
            assetId: row.asset_id,
            expiresAt: row.expires_at.toISOString(),
          };
    });
  }

  async putUpload(entry: {
    sha256: string;
    kind: string;
    bytes: number;
    assetId: string;
    expiresAt: string;
  }): Promise<void> {
    await guarded(
      () => this.sql`
        INSERT INTO seedance_uploads (sha256, kind, bytes, asset_id, expires_at)
        VALUES (${entry.sha256}, ${entry.kind}, ${entry.bytes}, ${entry.assetId}, ${new Date(entry.expiresAt)})
        ON CONFLICT (sha256, kind) DO UPDATE
        SET bytes = excluded.bytes, asset_id = excluded.asset_id, expires_at = excluded.expires_at`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.leases.release();
    // Leaving on purpose: another host may take this one's jobs at once instead of waiting for the lease to run out.
    await this.sql`DELETE FROM seedance_hosts WHERE owner = ${this.owner}`.catch(() => undefined);
    await this.sql.end({ timeout: 5 });
  }

  private at(): string {
    return this.now().toISOString();
  }

  private transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return guarded(() => this.sql.begin(work) as Promise<T>);
  }

  private async keyOf(tx: Tx, jobId: string): Promise<string> {
    const [row] = await tx<{ key: string }[]>`SELECT key FROM seedance_jobs WHERE job_id = ${jobId}`;
    if (row === undefined) throw new UnknownRecordError(`the ledger has no record of job ${jobId}`);
    return row.key;
  }

  private change(key: string, what: string, event: () => LedgerEvent): Promise<JobRecord> {
    return this.transaction((tx) => this.changeIn(tx, key, what, event));
  }

  /** Applies one event to the locked row by the memory ledger's own rules, and writes the row back if it changed. */
  private async changeIn(tx: Tx, key: string, what: string, event: () => LedgerEvent): Promise<JobRecord> {
    const [row] = await tx<JobRow[]>`SELECT * FROM seedance_jobs WHERE key = ${key} FOR UPDATE`;
    if (row === undefined) throw new UnknownRecordError(`the ledger has no record of ${what}`);
    const before = toRecord(row);
    const state = new LedgerState();
    state.apply({ type: 'reserved', record: before });
    state.apply(event());
    const after = state.records.get(key);
    if (after === undefined) throw new UnknownRecordError(`the ledger has no record of ${what}`);
    if (JSON.stringify({ ...after, updatedAt: '' }) === JSON.stringify({ ...before, updatedAt: '' })) {
      return before;
    }
    await this.write(tx, after);
    // Delivered at commit, to every host that follows jobs: they answer their own waiters from the ledger.
    if (after.jobId !== null) await tx`SELECT pg_notify(${JOB_CHANNEL}, ${after.jobId})`;
    return after;
  }

  /** Inserts or overwrites a record; `onlyNew` leaves an existing one as it is. */
  private async write(tx: Tx, record: JobRecord, onlyNew = false): Promise<void> {
    const row = {
      key: record.key,
      request_hash: record.requestHash,
      request: tx.json(record.request as postgres.JSONValue),
      estimate: record.estimate === null ? null : tx.json(record.estimate as unknown as postgres.JSONValue),
      estimate_credits: record.estimate?.credits ?? null,
      created_at: new Date(record.createdAt),
      owner: record.owner,
      job_id: record.jobId,
      status: record.status,
      progress: record.progress,
      charged: record.charged,
      refunded: record.refunded,
      failure: record.failure,
      result: record.result === null ? null : tx.json(record.result as postgres.JSONValue),
      downloads: tx.json(record.downloads as unknown as postgres.JSONValue),
      discovered: record.discovered,
      updated_at: new Date(record.updatedAt),
    };
    if (onlyNew) {
      await tx`INSERT INTO seedance_jobs ${tx(row)} ON CONFLICT DO NOTHING`;
      return;
    }
    await tx`
      INSERT INTO seedance_jobs ${tx(row)}
      ON CONFLICT (key) DO UPDATE SET
        owner = excluded.owner, job_id = excluded.job_id, status = excluded.status, progress = excluded.progress,
        charged = excluded.charged, refunded = excluded.refunded, failure = excluded.failure,
        result = excluded.result, downloads = excluded.downloads, updated_at = excluded.updated_at,
        request_hash = excluded.request_hash, request = excluded.request, estimate = excluded.estimate,
        estimate_credits = excluded.estimate_credits, created_at = excluded.created_at`;
  }
}

/** Poll leases in the database, renewed by each poll of the holder; expiry is judged by the database's clock. */
class PostgresJobLeases implements JobLeases {
  private readonly listeners = new Set<(jobId: string) => void>();
  private listening: Promise<unknown> | undefined;

  constructor(
    private readonly sql: Sql,
    private readonly holder: string,
    private readonly leaseMs: number,
  ) {}

  async hold(jobId: string): Promise<boolean> {
    const rows = await guarded(
      () => this.sql`
        INSERT INTO seedance_job_leases (job_id, holder, expires_at)
        VALUES (${jobId}, ${this.holder}, now() + ${this.leaseMs} * interval '1 millisecond')
        ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE seedance_job_leases.holder = excluded.holder OR seedance_job_leases.expires_at <= now()
        RETURNING job_id`,
    );
    return rows.length === 1;
  }

  /** Gives up one job's lease, or (no job id) every lease of this host. */
  async release(jobId?: string): Promise<void> {
    await guarded(
      () => this.sql`
        DELETE FROM seedance_job_leases
        WHERE holder = ${this.holder} ${jobId === undefined ? this.sql`` : this.sql`AND job_id = ${jobId}`}`,
    ).catch((error: unknown) => log.debug('ledger: could not give up a lease', { error: describe(error) }));
  }

  onChange(changed: (jobId: string) => void): () => void {
    this.listeners.add(changed);
    // One LISTEN per host, on a connection of its own that the client re-opens (and listens on again) when lost.
    this.listening ??= this.sql
      .listen(JOB_CHANNEL, (jobId) => {
        for (const listener of [...this.listeners]) listener(jobId);
      })
      .catch((error: unknown) =>
        log.warn('ledger: cannot listen for job changes; following jobs by polling the ledger', {
          error: describe(error),
        }),
      );
    return () => {
      this.listeners.delete(changed);
    };
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

/** Connection failures (refused, reset, closed, the server shutting down) and nothing else. */
function isConnectionFailure(error: unknown): boolean {
  const { code } = (error ?? {}) as { code?: unknown };
  if (typeof code !== 'string') return false;
  return (
    code.startsWith('CONNECTION_') ||
    code === 'CONNECT_TIMEOUT' ||
    code.startsWith('08') ||
    [
      '57P01',
      '57P02',
      '57P03',
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      'EHOSTUNREACH',
      'ENOTFOUND',
    ].includes(code)
  );
}

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isConnectionFailure(error)) throw new LedgerUnavailableError(error);
    throw error;
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
  const text = error instanceof Error ? error.message : String(error);
  return sanitize(text);
}
