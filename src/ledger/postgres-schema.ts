/**
 * The PostgreSQL ledger's schema, as numbered migrations. Each runs once, in order, inside one transaction, under a
 * cluster-wide advisory lock: hosts that start together wait for the first one and then find nothing left to do.
 * A migration is never edited once released; a change is a new entry at the end.
 */
export interface Migration {
  version: number;
  /** What it does, recorded beside its number. */
  name: string;
  sql: string;
}

/** The advisory lock key of migrations (any constant that nothing else uses; "sdmigr" in ASCII). */
export const MIGRATION_LOCK = 0x73646d696772;

// ---- MCP tasks (issue 15) ----------------------------------------------------------------------------------------
/**
 * MCP tasks (see TaskRecord), part of version 2 since no version was released without them: the hosts behind one
 * load balancer answer for each other's tasks. `seq` orders tasks as they were made; a task past `expires_at` is
 * never answered for, and is deleted when the next task is made.
 */
const TASKS_SQL = `
CREATE TABLE seedance_tasks (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id text NOT NULL UNIQUE CHECK (length(task_id) BETWEEN 1 AND 200),
  member text NOT NULL CHECK (length(member) <= 200),
  tool text NOT NULL CHECK (tool <> ''),
  job_id text CHECK (job_id <> ''),
  submission text NOT NULL,
  warnings jsonb NOT NULL CHECK (jsonb_typeof(warnings) = 'array'),
  result jsonb CHECK (jsonb_typeof(result) = 'object'),
  created_at timestamptz NOT NULL,
  ttl_ms bigint NOT NULL CHECK (ttl_ms > 0),
  expires_at timestamptz NOT NULL,
  cancelled_at timestamptz,
  cancel_message text,
  -- A task follows a job, or holds the answer of a call that made none.
  CHECK (job_id IS NOT NULL OR result IS NOT NULL)
);
CREATE INDEX seedance_tasks_member ON seedance_tasks (member, seq DESC);
CREATE INDEX seedance_tasks_expiry ON seedance_tasks (expires_at);
`;
// ---- end of MCP tasks ---------------------------------------------------------------------------------------------

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'jobs, download claims, uploads, hosts',
    sql: `
CREATE TABLE seedance_jobs (
  key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 512),
  member text NOT NULL CHECK (length(member) <= 200),
  request_hash text NOT NULL,
  request jsonb NOT NULL CHECK (jsonb_typeof(request) = 'object'),
  estimate jsonb CHECK (estimate IS NULL OR jsonb_typeof(estimate) = 'object'),
  -- The estimate's credits, apart, so that the budget is summed in SQL.
  estimate_credits bigint CHECK (estimate_credits >= 0),
  created_at timestamptz NOT NULL,
  owner text NOT NULL CHECK (owner <> ''),
  job_id text UNIQUE CHECK (job_id <> ''),
  status text NOT NULL CHECK (status IN ('submitting', 'rejected', 'QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')),
  progress double precision CHECK (progress >= 0 AND progress <= 100),
  charged bigint CHECK (charged >= 0),
  refunded boolean NOT NULL,
  failure text,
  result jsonb,
  downloads jsonb NOT NULL CHECK (jsonb_typeof(downloads) = 'array'),
  discovered boolean NOT NULL,
  updated_at timestamptz NOT NULL,
  -- What upstream sent that could not be taken as it was (JobRecord.upstreamAnomalies).
  upstream_anomalies jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(upstream_anomalies) = 'array'),
  CHECK ((estimate IS NULL) = (estimate_credits IS NULL)),
  CHECK (discovered OR estimate IS NOT NULL),
  -- A job id exactly once Apiframe answered the POST.
  CHECK ((status IN ('submitting', 'rejected')) = (job_id IS NULL))
);
CREATE INDEX seedance_jobs_newest ON seedance_jobs (created_at DESC, key COLLATE "C" DESC);
CREATE INDEX seedance_jobs_member_newest ON seedance_jobs (member, created_at DESC, key COLLATE "C" DESC);
CREATE INDEX seedance_jobs_status ON seedance_jobs (status, created_at DESC, key COLLATE "C" DESC);
CREATE INDEX seedance_jobs_request ON seedance_jobs (member, request_hash, created_at DESC) WHERE NOT discovered;
CREATE INDEX seedance_jobs_open ON seedance_jobs (owner) WHERE status IN ('submitting', 'QUEUED', 'PROCESSING');

-- One row, locked by every reservation: the budget check and the new record are one step across all hosts.
CREATE TABLE seedance_budget_lock (id integer PRIMARY KEY CHECK (id = 1));
INSERT INTO seedance_budget_lock VALUES (1);

CREATE TABLE seedance_download_claims (
  job_id text PRIMARY KEY,
  owner text NOT NULL,
  until timestamptz NOT NULL
);

CREATE TABLE seedance_uploads (
  sha256 text NOT NULL,
  kind text NOT NULL,
  bytes bigint NOT NULL CHECK (bytes >= 0),
  asset_id text NOT NULL CHECK (asset_id <> ''),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (sha256, kind)
);

-- Each running host renews its row; a host whose row has expired (by the database's clock) is gone, and its jobs
-- in flight are taken over by another.
CREATE TABLE seedance_hosts (
  owner text PRIMARY KEY,
  alive_until timestamptz NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'job poll leases, tasks',
    sql: `${TASKS_SQL}
-- The host that polls a job upstream renews its lease with every poll; when it stops (it died, it lost the
-- database), the lease runs out by the database's clock and the next host that follows the job takes it.
CREATE TABLE seedance_job_leases (
  job_id text PRIMARY KEY,
  holder text NOT NULL,
  expires_at timestamptz NOT NULL
);
`,
  },
];

/** The channel on which every recorded change of a job is announced, with the job id as payload. */
export const JOB_CHANNEL = 'seedance_job_changes';
