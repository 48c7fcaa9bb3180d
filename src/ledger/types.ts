/**
 * The spend ledger: every submission recorded before it is sent, every job's life after it, the budget computed
 * from them, and the upload cache. Behind this interface so that a server shared by several hosts can keep it
 * elsewhere (PostgreSQL, say); the product uses the file ledger, tests may use the memory one.
 */
import type { JobStatus } from '../apiframe/schemas.js';
import type { BudgetPeriod } from '../app/config.js';
import type { MediaKind, WireVideoRequest } from '../domain/params.js';
import type { Estimate } from '../domain/pricing.js';

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

export interface JobRecord {
  /** The Idempotency-Key sent with the POST; the record's identity. */
  key: string;
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
  /** The agent's own idempotency key; when absent the ledger makes one. */
  key?: string;
  requestHash: string;
  request: WireVideoRequest;
  estimate: Estimate;
  /** Submit a new job even if an identical request is in flight or recently completed. */
  newJob: boolean;
}

export type ReserveOutcome =
  /** A new submission: POST with record.key. */
  | { kind: 'reserved'; record: JobRecord; budget: BudgetSnapshot }
  /** An identical submission whose POST was never answered (a crash, a timeout): POST again with its key. */
  | { kind: 'resume'; record: JobRecord; budget: BudgetSnapshot }
  /** An identical request already has a job (in flight, or completed within the attach window): use it. */
  | { kind: 'attached'; record: JobRecord; budget: BudgetSnapshot }
  | { kind: 'over_budget'; budget: BudgetSnapshot; needed: number }
  /** The agent's key was used before for a different request. */
  | { kind: 'key_conflict'; record: JobRecord };

export interface JobUpdate {
  status: JobStatus;
  progress: number | null;
  /** Apiframe's creditCost, when it reported one. */
  creditCost: number | null;
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
  status?: LedgerStatus;
  limit: number;
  /** Opaque, from a previous page. */
  cursor?: string;
}

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

export interface Ledger {
  /** Present when the ledger is shared by several hosts. */
  readonly leases?: JobLeases;
  /** Atomically (across processes): attach to an identical request, or check the budget and reserve. */
  reserve(request: ReserveRequest): Promise<ReserveOutcome>;
  budget(): Promise<BudgetSnapshot>;
  /** The POST was answered with a job id. */
  markSubmitted(key: string, jobId: string): Promise<JobRecord>;
  /** Apiframe definitely created no job (a 4xx): the reservation is released. */
  markRejected(key: string, reason: string): Promise<JobRecord>;
  /**
   * A job's status as last seen. COMPLETED settles the reservation at the cost charged; FAILED and CANCELLED release
   * it (Apiframe refunds them). Repeated updates are harmless.
   */
  updateJob(jobId: string, update: JobUpdate): Promise<JobRecord>;
  /** Records a job of the account that this ledger did not submit, so it can be found again. */
  recordDiscovered(jobId: string, update: JobUpdate): Promise<JobRecord>;
  claimDownload(jobId: string): Promise<DownloadClaim>;
  recordDownload(jobId: string, files: DownloadedFile[]): Promise<JobRecord>;
  releaseDownload(jobId: string): Promise<void>;
  findByJobId(jobId: string): Promise<JobRecord | undefined>;
  findByKey(key: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  list(query: ListQuery): Promise<{ records: JobRecord[]; nextCursor: string | null }>;
  /** Jobs with a job id and no terminal status whose owner process is gone: to be picked up on start. */
  orphans(): Promise<JobRecord[]>;
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
  /** How long a download claim holds before another process may take it over (10 min). */
  downloadLeaseMs?: number;
}
