/**
 * The spend ledger: every submission recorded before it is sent, every job's life after it, the budget computed
 * from them, and the upload cache. Behind this interface so that a server shared by several hosts can keep it
 * elsewhere (PostgreSQL, say); the product keeps it in SQLite (ledger.db in the state folder), simulation and tests
 * may keep it in memory.
 *
 * Jobs belong to a member: `''` is the machine's owner (stdio, or HTTP without tokens); over HTTP each member has a
 * name and may have a budget of its own, checked with the server-wide one in the same transaction.
 */
import type { JobStatus } from '../apiframe/schemas.js';
import type { BudgetPeriod } from '../domain/budget.js';
import type { MediaKind, WireVideoRequest } from '../domain/params.js';
import type { Estimate, LearnedRate } from '../domain/pricing.js';

/** `submitting`: recorded, POST not (yet) answered. `rejected`: Apiframe definitely created no job. */
export type LedgerStatus = 'submitting' | 'rejected' | JobStatus;

export const OPEN_STATUSES: ReadonlySet<LedgerStatus> = new Set(['submitting', 'QUEUED', 'PROCESSING']);

export interface DownloadedFile {
  kind: 'video' | 'last_frame';
  path: string;
  bytes: number;
  sha256: string;
  /** Where it was fetched from; result URLs expire upstream after about 24 h. */
  url: string;
}

/** The member every job belongs to when no member is named: the machine's owner. */
export const LOCAL_MEMBER = '';

/** Who asks, and the budget of their own that applies on top of the server-wide one. */
export interface MemberScope {
  /** LOCAL_MEMBER for the machine's owner. */
  name: string;
  /** Credits per period for this member alone; null: only the server-wide budget applies. */
  budgetLimit: number | null;
  period: BudgetPeriod;
}

export interface JobRecord {
  /** The Idempotency-Key sent with the POST; the record's identity. */
  key: string;
  /** Whose job it is (LOCAL_MEMBER: the machine's owner). */
  member: string;
  /** Hash of the wire body: what makes two calls "the same request". */
  requestHash: string;
  request: WireVideoRequest;
  /** Null for a discovered job: it was never priced here. */
  estimate: Estimate | null;
  /** ISO time of the submission record; budget periods count a job by it. */
  createdAt: string;
  /** The process that submitted it: "pid@host", so a restart can tell which in-flight jobs lost their owner. */
  owner: string;
  jobId: string | null;
  status: LedgerStatus;
  progress: number | null;
  /** Credits charged as Apiframe reported them, once known; 0 after a refund. */
  charged: number | null;
  refunded: boolean;
  /** Why it failed or was rejected, in words fit for the agent. */
  failure: string | null;
  result: { videoUrl: string | null; lastFrameUrl: string | null; raw: unknown } | null;
  downloads: DownloadedFile[];
  /** A job this ledger did not submit (found by get_video), recorded so it is never lost again. */
  discovered: boolean;
  /**
   * What Apiframe said of this job that could not be taken as given (a creditCost that is negative, not a number or
   * far above the estimate; a result URL that is not http(s); a result cut for size), in words fit for the agent.
   * Each distinct text once, oldest first.
   */
  upstreamAnomalies: string[];
  updatedAt: string;
}

export interface BudgetSnapshot {
  /** null when no cap is set. */
  limit: number | null;
  period: BudgetPeriod;
  /** ISO start of the current period (null for `total`). */
  periodStart: string | null;
  /** Credits charged for jobs of this period (estimates for jobs not yet settled are in `reserved`). */
  spent: number;
  reserved: number;
  /** limit - spent - reserved, never below 0; null when no cap is set. */
  remaining: number | null;
}

export interface ReserveRequest {
  /**
   * The agent's own idempotency key; when absent the ledger makes one. A member's key is kept (and sent upstream)
   * prefixed with a digest of the member's name, so that two members' keys never meet.
   */
  key?: string;
  /** Whose request it is; absent: the machine's owner, with no budget of its own. */
  member?: MemberScope;
  requestHash: string;
  request: WireVideoRequest;
  estimate: Estimate;
  /** Submit a new job even if an identical request is in flight or recently completed. */
  newJob: boolean;
}

/** `budget` is the server-wide budget; `memberBudget` the member's own (null when the request named no member). */
export type ReserveOutcome =
  /** A new submission: POST with record.key. */
  | { kind: 'reserved'; record: JobRecord; budget: BudgetSnapshot; memberBudget: BudgetSnapshot | null }
  /** An identical submission whose POST was never answered (a crash, a timeout): POST again with its key. */
  | { kind: 'resume'; record: JobRecord; budget: BudgetSnapshot; memberBudget: BudgetSnapshot | null }
  /** An identical request of the same member already has a job (in flight, or completed within the attach window). */
  | { kind: 'attached'; record: JobRecord; budget: BudgetSnapshot; memberBudget: BudgetSnapshot | null }
  /** `budget` is the one that refused: the server's, or the member's own (`scope`). */
  | { kind: 'over_budget'; budget: BudgetSnapshot; needed: number; scope: 'server' | 'member' }
  /** The agent's key was used before for a different request. */
  | { kind: 'key_conflict'; record: JobRecord };

export interface JobUpdate {
  status: JobStatus;
  progress: number | null;
  /**
   * The credits to record as charged: Apiframe's creditCost once the jobs layer has checked it (an implausible one is
   * replaced by the estimate and named in `anomalies`); null when none was reported. The ledger refuses (LedgerValueError)
   * a value that is not a whole number >= 0, whoever sends it: the poll is not recorded, nothing is guessed.
   */
  creditCost: number | null;
  /** Added to the record's `upstreamAnomalies` (texts it already holds are not repeated). */
  anomalies?: string[];
  result?: JobRecord['result'];
  failure?: string | null;
  /** The prompt, when Apiframe echoes it: what a discovered job is listed by. */
  prompt?: string | null;
}

export interface UploadCacheEntry {
  sha256: string;
  kind: MediaKind;
  bytes: number;
  assetId: string;
  /** When the cache entry stops being trusted. */
  expiresAt: string;
}

export type DownloadClaim =
  /** This caller must download, then call recordDownload (or releaseDownload on failure). */
  | { kind: 'claimed' }
  /** Already downloaded: these are the files. */
  | { kind: 'done'; files: DownloadedFile[] }
  /** Another live caller is downloading it now; ask again shortly. */
  | { kind: 'busy' };

export interface ListQuery {
  /** Only this member's jobs; absent: everyone's. */
  member?: string;
  status?: LedgerStatus;
  limit: number;
  /** Opaque, from a previous page. */
  cursor?: string;
}

/**
 * An MCP task as the ledger keeps it: which job (or which finished answer) a task stands for, whose it is, how long
 * it lives, and whether its caller cancelled it. Its progress and result are not kept here: they are the job's, read
 * from the job's record. In the ledger so that every process and every host sharing it answers for the same tasks.
 */
export interface TaskRecord {
  taskId: string;
  /** Whose task it is (LOCAL_MEMBER: the machine's owner). */
  member: string;
  /** The tool called. */
  tool: string;
  /** The job the task follows; null when the call ended before a job existed (then `result` is its answer). */
  jobId: string | null;
  /** How the call met its job: submitted, resumed, attached, existing. */
  submission: string;
  warnings: string[];
  /** The tool's answer, when the call ended without a job to follow (a refusal, an invalid argument). */
  result: Record<string, unknown> | null;
  /** ISO time the ledger recorded it. */
  createdAt: string;
  /** How long after createdAt it is kept; past that it is as unknown as one that never existed. */
  ttlMs: number;
  /** When the client cancelled the task, and what it was told. */
  cancelledAt: string | null;
  cancelMessage: string | null;
}

export type NewTask = Omit<TaskRecord, 'createdAt' | 'cancelledAt' | 'cancelMessage'>;

export interface TaskPage {
  /** Newest first. */
  tasks: TaskRecord[];
  /** Opaque, for the next page; null on the last. */
  nextCursor: string | null;
}

/** Whether the ledger can be used; when not, what is wrong and how to fix it, in words fit for the user. */
export type LedgerHealth =
  | { ok: true; store: string; location: string }
  | { ok: false; store: string; location: string; problem: string; fix: string };

/**
 * Who polls a job upstream when several hosts share the ledger: one host at a time, under a lease whose expiry the
 * database judges; the others follow the job through the ledger and hear of its changes at once. A ledger of one
 * host has none, and each process polls the jobs it waits on itself.
 */
export interface JobLeases {
  /** Takes or renews this host's lease on polling `jobId`; false while another host's lease on it runs. */
  hold(jobId: string): Promise<boolean>;
  /** Gives the lease up (nobody here follows the job any more), so that another host may take it at once. */
  release(jobId: string): Promise<void>;
  /** Calls `changed` with the job id whenever any host records a change to a job; returns what stops it. */
  onChange(changed: (jobId: string) => void): () => void;
}

/**
 * Every method may throw LedgerUnavailableError (core/errors/ledger.ts) when the store cannot be used (a damaged or
 * unreadable database), and LedgerWriteError when a change could not be made durable (disk full, I/O error): in both
 * cases nothing was decided, and nothing must be sent upstream.
 */
export interface Ledger {
  /** Present when the ledger is shared by several hosts. */
  readonly leases?: JobLeases;
  /**
   * Atomically (across processes): attach to an identical request of the same member, or check the budget (the
   * server-wide one and the member's own) and reserve. The reservation and its key are durable before this resolves.
   */
  reserve(request: ReserveRequest): Promise<ReserveOutcome>;
  /** The server-wide budget, or with `member` that member's own. Throws rather than guess when it cannot be computed. */
  budget(member?: MemberScope): Promise<BudgetSnapshot>;
  health(): Promise<LedgerHealth>;
  /**
   * Rates learned from this account's own charges: per model and variant, the credits charged for completed jobs
   * priced here over their seconds of video, with how many charges each rests on.
   */
  learnedRates(): Promise<LearnedRate[]>;
  /** The POST was answered with a job id. */
  markSubmitted(key: string, jobId: string): Promise<JobRecord>;
  /** Apiframe definitely created no job (a 4xx): the reservation is released. */
  markRejected(key: string, reason: string): Promise<JobRecord>;
  /**
   * A job's status as last seen. COMPLETED settles the reservation at the cost charged; FAILED and CANCELLED release
   * it (Apiframe refunds them). Repeated updates are harmless.
   */
  updateJob(jobId: string, update: JobUpdate): Promise<JobRecord>;
  /**
   * Records a job of the account that this ledger did not submit, so it can be found again, as `member`'s
   * (default LOCAL_MEMBER). A job already recorded is updated and keeps its member.
   */
  recordDiscovered(jobId: string, update: JobUpdate, member?: string): Promise<JobRecord>;
  claimDownload(jobId: string): Promise<DownloadClaim>;
  recordDownload(jobId: string, files: DownloadedFile[]): Promise<JobRecord>;
  releaseDownload(jobId: string): Promise<void>;
  /** With `member`, only that member's job: another member's is as good as unknown. */
  findByJobId(jobId: string, member?: string): Promise<JobRecord | undefined>;
  /** The record of a key as stored (a member's key is stored prefixed; see ReserveRequest.key). */
  findByKey(key: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  list(query: ListQuery): Promise<{ records: JobRecord[]; nextCursor: string | null }>;
  /**
   * Takes over, on start, the work a dead process left: in ONE transaction, the records whose `owner` is provably
   * dead (`isOwnerAlive(owner)` false: same host and the pid gone; an owner on another host is never judged dead)
   * and that are one of
   *  - an unanswered submission: status `submitting`, no job id (the caller POSTs `request` again with `key` as its
   *    Idempotency-Key, so Apiframe returns the original job or creates the one that was never created);
   *  - a job in flight: a job id and status QUEUED or PROCESSING (the caller polls it to the end);
   *  - a completed job not downloaded: status COMPLETED, no downloads, updated within `resultRetentionMs` (result
   *    URLs expire upstream after that; the caller claims and downloads it).
   * Discovered records count like the others; `rejected`, FAILED and CANCELLED records never.
   * Each record taken gets `owner` = this process in that same transaction (the lease): a second server starting at
   * the same moment sees a live owner and takes nothing twice. Nothing else of the record changes (`updatedAt`
   * neither, so a job adopted on every start still leaves the retention window). Returns the records as taken,
   * oldest first.
   */
  adoptOrphans(): Promise<JobRecord[]>;
  /** Records a new task (created now, by the ledger's clock), and forgets the ones whose time is up. */
  createTask(task: NewTask): Promise<TaskRecord>;
  /** The member's task while its time runs; another member's, or one past its TTL, is as unknown as none. */
  getTask(taskId: string, member: string): Promise<TaskRecord | undefined>;
  /**
   * The member's live tasks, newest first, `limit` a page. A cursor this ledger did not return is refused
   * (InvalidCursorError).
   */
  listTasks(member: string, limit: number, cursor?: string): Promise<TaskPage>;
  /** Marks the member's live task cancelled, once: false when it already was, or is not theirs, or is gone. */
  cancelTask(taskId: string, member: string, message: string): Promise<boolean>;
  /** Keeps the final answer of the member's task whose call ended without a job. */
  storeTaskResult(taskId: string, member: string, result: Record<string, unknown>): Promise<void>;
  getUpload(sha256: string, kind: MediaKind): Promise<UploadCacheEntry | undefined>;
  putUpload(entry: UploadCacheEntry): Promise<void>;
  close(): Promise<void>;
}

export interface LedgerOptions {
  /** Credits per period; null for no cap. */
  budgetLimit: number | null;
  period: BudgetPeriod;
  now?: () => Date;
  /** How long after completion an identical request still attaches to a job instead of paying again (24 h). */
  attachWindowMs?: number;
  /** This process, as recorded in `owner` ("pid@host"). */
  owner?: string;
  /** Whether the process that owns a record still runs (default: same host and the pid answers a signal 0). */
  isOwnerAlive?: (owner: string) => boolean;
  /** Makes an Idempotency-Key when the agent gives none. */
  makeKey?: () => string;
  /**
   * How long a download claim of a process on another host holds before another process may take it over (10 min).
   * A claim of a process of this host holds exactly as long as that process lives, whatever the clocks say.
   */
  downloadLeaseMs?: number;
  /** How long after completion a result can still be downloaded upstream, for adoptOrphans (24 h). */
  resultRetentionMs?: number;
}
