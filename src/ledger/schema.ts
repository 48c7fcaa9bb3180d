/**
 * The ledger's schema, as numbered migrations. `PRAGMA user_version` holds the version a database is at;
 * `MIGRATIONS[n]` takes it from version n to n + 1, and every migration runs inside the transaction that checked the
 * version, so two processes opening a new database never both create it. A database of a later version (written by
 * a newer seedance-mcp) is refused, never written to.
 *
 * The constraints are the last line of defence for money: STRICT tables refuse a value of the wrong type, CHECKs a
 * negative or fractional amount or an unknown status, and the budget's running totals are kept by triggers, so no
 * write path can forget them.
 */
import type { DatabaseSync } from 'node:sqlite';

/** Marks a database as a seedance-mcp ledger (`PRAGMA application_id`; "SdLg"). */
export const APPLICATION_ID = 0x53644c67;

const ISO_TIME = `'[0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9].[0-9][0-9][0-9]Z'`;
const OPEN = `('submitting', 'QUEUED', 'PROCESSING')`;

/** Adds a job's amounts to its six buckets: the server's and its member's, by day, by month and in total. */
function addToTotals(row: 'NEW'): string {
  const periods = [
    [`'day'`, `substr(${row}.created_at, 1, 10)`],
    [`'month'`, `substr(${row}.created_at, 1, 7)`],
    [`'total'`, `''`],
  ];
  const rows = [`'server'`, `'member:' || ${row}.member`].flatMap((scope) =>
    periods.map(
      ([period, start]) => `(${scope}, ${period}, ${start}, ${row}.spent_amount, ${row}.reserved_amount)`,
    ),
  );
  return `INSERT INTO budget_totals (scope, period, period_start, spent, reserved) VALUES
      ${rows.join(',\n      ')}
    ON CONFLICT (scope, period, period_start) DO UPDATE SET
      spent = spent + excluded.spent, reserved = reserved + excluded.reserved;`;
}

/**
 * Takes a job's amounts out of its buckets again. An UPDATE, not an upsert: SQLite checks a proposed row's CHECKs
 * before its conflict, so a negative amount could never be upserted; and the buckets exist, since adding made them.
 */
function subtractFromTotals(row: 'OLD'): string {
  return `UPDATE budget_totals SET spent = spent - ${row}.spent_amount, reserved = reserved - ${row}.reserved_amount
    WHERE scope IN ('server', 'member:' || ${row}.member) AND (
      (period = 'day' AND period_start = substr(${row}.created_at, 1, 10)) OR
      (period = 'month' AND period_start = substr(${row}.created_at, 1, 7)) OR
      (period = 'total' AND period_start = ''));`;
}

const V1 = `
CREATE TABLE jobs (
  key TEXT PRIMARY KEY NOT NULL CHECK (length(key) BETWEEN 1 AND 512),
  member TEXT NOT NULL CHECK (length(member) <= 200),
  request_hash TEXT NOT NULL,
  request TEXT NOT NULL CHECK (json_valid(request) AND json_type(request) = 'object'),
  estimate TEXT CHECK (estimate IS NULL OR (json_valid(estimate) AND json_type(estimate) = 'object')),
  estimate_credits INTEGER CHECK (estimate_credits IS NULL OR estimate_credits >= 0),
  created_at TEXT NOT NULL CHECK (created_at GLOB ${ISO_TIME}),
  owner TEXT NOT NULL CHECK (length(owner) >= 1),
  job_id TEXT UNIQUE CHECK (job_id IS NULL OR length(job_id) >= 1),
  status TEXT NOT NULL CHECK (status IN ('submitting', 'rejected', 'QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  progress REAL CHECK (progress IS NULL OR progress BETWEEN 0 AND 100),
  charged INTEGER CHECK (charged IS NULL OR charged >= 0),
  refunded INTEGER NOT NULL CHECK (refunded IN (0, 1)),
  failure TEXT,
  result TEXT CHECK (result IS NULL OR json_valid(result)),
  discovered INTEGER NOT NULL CHECK (discovered IN (0, 1)),
  updated_at TEXT NOT NULL CHECK (updated_at GLOB ${ISO_TIME}),
  -- What upstream sent that could not be taken as it was (see JobRecord.upstreamAnomalies): a JSON array of texts.
  upstream_anomalies TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(upstream_anomalies) AND json_type(upstream_anomalies) = 'array'),
  -- What the job counts against the budget: its charge once known, its estimate until then.
  spent_amount INTEGER GENERATED ALWAYS AS (
    CASE WHEN discovered = 0 AND status = 'COMPLETED' THEN coalesce(charged, estimate_credits) ELSE 0 END
  ) VIRTUAL,
  reserved_amount INTEGER GENERATED ALWAYS AS (
    CASE WHEN discovered = 0 AND status IN ${OPEN} THEN coalesce(charged, estimate_credits) ELSE 0 END
  ) VIRTUAL,
  -- A job priced here carries its estimate; only a job found upstream has none.
  CHECK ((estimate IS NULL) = (estimate_credits IS NULL) AND (discovered = 1 OR estimate_credits IS NOT NULL)),
  -- A job id exactly once Apiframe answered the POST.
  CHECK ((status IN ('submitting', 'rejected')) = (job_id IS NULL))
) STRICT;

CREATE INDEX jobs_by_time ON jobs (created_at, key);
CREATE INDEX jobs_by_member_time ON jobs (member, created_at, key);
CREATE INDEX jobs_by_status_time ON jobs (status, created_at, key);
CREATE INDEX jobs_by_member_status_time ON jobs (member, status, created_at, key);
CREATE INDEX jobs_by_request ON jobs (member, request_hash, created_at, key);
CREATE INDEX jobs_open ON jobs (status) WHERE status IN ${OPEN};

CREATE TABLE downloads (
  job_key TEXT NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('video', 'last_frame')),
  path TEXT NOT NULL CHECK (length(path) >= 1),
  bytes INTEGER NOT NULL CHECK (bytes >= 0),
  sha256 TEXT NOT NULL,
  url TEXT NOT NULL,
  PRIMARY KEY (job_key, kind)
) STRICT, WITHOUT ROWID;

CREATE TABLE download_claims (
  job_key TEXT PRIMARY KEY NOT NULL REFERENCES jobs (key) ON DELETE CASCADE,
  owner TEXT NOT NULL CHECK (length(owner) >= 1),
  until TEXT NOT NULL CHECK (until GLOB ${ISO_TIME})
) STRICT, WITHOUT ROWID;

CREATE TABLE uploads (
  sha256 TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio')),
  bytes INTEGER NOT NULL CHECK (bytes >= 0),
  asset_id TEXT NOT NULL CHECK (length(asset_id) >= 1),
  expires_at TEXT NOT NULL CHECK (expires_at GLOB ${ISO_TIME}),
  PRIMARY KEY (sha256, kind)
) STRICT, WITHOUT ROWID;

-- Running totals per budget scope and period, so that a budget is one row read however long the history.
CREATE TABLE budget_totals (
  scope TEXT NOT NULL CHECK (scope = 'server' OR scope GLOB 'member:*'),
  period TEXT NOT NULL CHECK (period IN ('day', 'month', 'total')),
  period_start TEXT NOT NULL,
  spent INTEGER NOT NULL CHECK (spent >= 0),
  reserved INTEGER NOT NULL CHECK (reserved >= 0),
  PRIMARY KEY (scope, period, period_start)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER jobs_count_new AFTER INSERT ON jobs
WHEN NEW.spent_amount <> 0 OR NEW.reserved_amount <> 0
BEGIN
  ${addToTotals('NEW')}
END;

CREATE TRIGGER jobs_count_change AFTER UPDATE OF status, charged ON jobs
WHEN NEW.spent_amount <> OLD.spent_amount OR NEW.reserved_amount <> OLD.reserved_amount
BEGIN
  ${subtractFromTotals('OLD')}
  ${addToTotals('NEW')}
END;

CREATE TRIGGER jobs_count_gone AFTER DELETE ON jobs
WHEN OLD.spent_amount <> 0 OR OLD.reserved_amount <> 0
BEGIN
  ${subtractFromTotals('OLD')}
END;

-- What places a job in a budget bucket never changes once written.
CREATE TRIGGER jobs_fixed_fields BEFORE UPDATE OF key, member, created_at, discovered, estimate_credits ON jobs
WHEN NEW.key IS NOT OLD.key OR NEW.member IS NOT OLD.member OR NEW.created_at IS NOT OLD.created_at
  OR NEW.discovered IS NOT OLD.discovered OR NEW.estimate_credits IS NOT OLD.estimate_credits
BEGIN
  SELECT RAISE(ABORT, 'a job''s key, member, time, origin and estimate never change');
END;
`;

// ---- MCP tasks (issue 15) ----------------------------------------------------------------------------------------
/**
 * MCP tasks (see TaskRecord): part of version 1, since no version was released without them. `seq` orders tasks as
 * they were made, even several in one millisecond; a task past `expires_at` is never answered for, and is deleted
 * when the next task is made.
 */
const V1_TASKS = `
CREATE TABLE tasks (
  seq INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL UNIQUE CHECK (length(task_id) BETWEEN 1 AND 200),
  member TEXT NOT NULL CHECK (length(member) <= 200),
  tool TEXT NOT NULL CHECK (length(tool) >= 1),
  job_id TEXT CHECK (job_id IS NULL OR length(job_id) >= 1),
  submission TEXT NOT NULL,
  warnings TEXT NOT NULL CHECK (json_valid(warnings) AND json_type(warnings) = 'array'),
  result TEXT CHECK (result IS NULL OR (json_valid(result) AND json_type(result) = 'object')),
  created_at TEXT NOT NULL CHECK (created_at GLOB ${ISO_TIME}),
  ttl_ms INTEGER NOT NULL CHECK (ttl_ms > 0),
  expires_at TEXT NOT NULL CHECK (expires_at GLOB ${ISO_TIME}),
  cancelled_at TEXT CHECK (cancelled_at IS NULL OR cancelled_at GLOB ${ISO_TIME}),
  cancel_message TEXT,
  -- A task follows a job, or holds the answer of a call that made none.
  CHECK (job_id IS NOT NULL OR result IS NOT NULL)
) STRICT;

CREATE INDEX tasks_by_member ON tasks (member, seq);
CREATE INDEX tasks_by_expiry ON tasks (expires_at);
`;
// ---- end of MCP tasks ---------------------------------------------------------------------------------------------

/** MIGRATIONS[n] takes a database from version n to n + 1; version 0 is a new, empty database. */
export const MIGRATIONS: readonly ((db: DatabaseSync) => void)[] = [
  (db) => {
    db.exec(V1);
    db.exec(V1_TASKS);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
