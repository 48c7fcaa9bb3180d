/**
 * The life of a paid job: reserve in the ledger (or attach to an identical request), submit once with an
 * idempotency key that every retry reuses, wait with a deadline while polls report progress, then settle the cost
 * and download the result exactly once. Jobs nobody waits for any more are finished in the background, and jobs
 * left behind by a dead process are picked up on start.
 */
import type { AccountCache } from '../apiframe/account.js';
import type { ApiframeClient } from '../apiframe/client.js';
import { ApiframeError, RateLimitError } from '../apiframe/errors.js';
import { type Job, TERMINAL_STATUSES } from '../apiframe/schemas.js';
import { CancelledError, SeedanceError } from '../core/errors.js';
import { log } from '../core/log.js';
import { sanitize } from '../core/redact.js';
import { type WireSeedanceParams, wireBody } from '../domain/params.js';
import { type CheaperOption, cheaperOptions, type Estimate, type PriceTable } from '../domain/pricing.js';
import { requestHash } from '../domain/request-hash.js';
import type { BudgetSnapshot, DownloadedFile, JobRecord, JobUpdate, Ledger } from '../ledger/types.js';
import { DownloadError, downloadFile } from './download.js';
import { outputBaseName } from './naming.js';
import { JobWatcher, type PollSchedule } from './watcher.js';

export class BudgetExceededError extends SeedanceError {
  constructor(budget: BudgetSnapshot, needed: number, options: CheaperOption[]) {
    const cheaper = options.map((o) => `${o.change} (${o.estimate.credits} credits)`).join('; ');
    super(
      'over_budget',
      `This video costs ${needed} credits but only ${budget.remaining ?? 0} of the ${budget.limit} credit budget (${budget.period}) remain: ${budget.spent} spent, ${budget.reserved} reserved by jobs in flight.`,
      {
        recovery: cheaper
          ? `Nothing was submitted. Cheaper variants that fit: ${cheaper}. Or ask the user to raise SEEDANCE_BUDGET_CREDITS.`
          : 'Nothing was submitted, and no variant of this video fits. Wait for jobs in flight to finish, or ask the user to raise SEEDANCE_BUDGET_CREDITS.',
        details: { budget, needed, cheaperOptions: options },
      },
    );
  }
}

export class MaxCreditsExceededError extends SeedanceError {
  constructor(estimate: Estimate, maxCredits: number, options: CheaperOption[]) {
    const cheaper = options.map((o) => `${o.change} (${o.estimate.credits} credits)`).join('; ');
    super(
      'over_max_credits',
      `This video costs ${estimate.credits} credits (${estimate.variant}, ${estimate.creditsPerSecond}/s x ${estimate.duration} s), over max_credits ${maxCredits}.`,
      {
        recovery: cheaper
          ? `Nothing was submitted. Variants within max_credits: ${cheaper}.`
          : 'Nothing was submitted, and no variant fits max_credits; raise it if the user agrees.',
        details: { estimate, maxCredits, cheaperOptions: options },
      },
    );
  }
}

export class IdempotencyConflictError extends SeedanceError {
  constructor(key: string, record: JobRecord) {
    super(
      'idempotency_conflict',
      `idempotency_key "${sanitize(key, 80)}" was used before for a different request.`,
      {
        recovery: 'Use a new idempotency_key for a new request, or repeat the original request exactly.',
        details: { jobId: record.jobId },
      },
    );
  }
}

export interface SubmitInput {
  prompt: string;
  params: WireSeedanceParams;
  estimate: Estimate;
  idempotencyKey?: string | undefined;
  newJob: boolean;
}

export interface Submission {
  record: JobRecord;
  /** submitted: a new job; resumed: an unanswered earlier POST repeated with its key; attached: an existing job. */
  kind: 'submitted' | 'resumed' | 'attached';
  budget: BudgetSnapshot;
}

export interface WaitOutcome {
  job: Job | undefined;
  timedOut: boolean;
}

export interface Finished {
  record: JobRecord;
  /** Set when the job completed but its files could not be saved; the job itself is safe. */
  downloadError: SeedanceError | undefined;
}

export interface JobServiceOptions {
  poll: PollSchedule;
  outputDir: string;
  maxDownloadBytes: number;
  downloadTimeoutMs: number;
  userAgent: string;
  /** How often to look at the ledger while another process downloads a job. */
  claimPollMs: number;
}

export function jobUpdate(job: Job): JobUpdate {
  return {
    status: job.status,
    progress: job.progress,
    creditCost: job.creditCost,
    result:
      job.result === undefined
        ? null
        : {
            videoUrl: job.result.videoUrl ?? null,
            lastFrameUrl: job.result.lastFrameUrl ?? null,
            raw: job.result.raw,
          },
    failure: job.error === null ? null : sanitize(job.error),
    prompt: job.prompt,
  };
}

/** A job as the ledger recorded it: what a host that does not poll it upstream tells its waiters. */
function recordedJob(record: JobRecord | undefined): Job | undefined {
  if (record === undefined || record.jobId === null) return undefined;
  const { status } = record;
  if (status === 'submitting' || status === 'rejected') return undefined;
  return {
    id: record.jobId,
    status,
    progress: record.progress,
    result:
      record.result === null
        ? undefined
        : {
            videoUrl: record.result.videoUrl ?? undefined,
            lastFrameUrl: record.result.lastFrameUrl ?? undefined,
            raw: record.result.raw,
          },
    error: record.failure,
    creditCost: record.charged,
    createdAt: record.createdAt,
    completedAt: null,
    expired: false,
    prompt: record.request.prompt,
  };
}

export class JobService {
  /** The last status recorded in the ledger per job, so polls write only changes. */
  private readonly recorded = new Map<string, string>();
  private readonly finishing = new Map<string, Promise<Finished>>();
  private readonly finishers = new Set<string>();

  readonly watcher: JobWatcher;

  constructor(
    private readonly client: ApiframeClient,
    private readonly ledger: Ledger,
    private readonly account: AccountCache,
    private readonly prices: PriceTable,
    private readonly options: JobServiceOptions,
  ) {
    const { leases } = ledger;
    this.watcher = new JobWatcher(
      client,
      options.poll,
      (job) => this.recordPoll(job),
      leases === undefined
        ? undefined
        : { leases, recorded: async (jobId) => recordedJob(await ledger.findByJobId(jobId)) },
    );
  }

  close(): void {
    this.watcher.close();
  }

  /** Called by the watcher on every poll. */
  async recordPoll(job: Job): Promise<void> {
    if (this.recorded.get(job.id) === job.status) return;
    const known = await this.ledger.findByJobId(job.id);
    if (known === undefined) await this.ledger.recordDiscovered(job.id, jobUpdate(job));
    else await this.ledger.updateJob(job.id, jobUpdate(job));
    if (TERMINAL_STATUSES.has(job.status)) this.account.invalidate();
    this.recorded.set(job.id, job.status);
  }

  async submit(input: SubmitInput, signal?: AbortSignal): Promise<Submission> {
    if (signal?.aborted) throw new CancelledError('generate_video');
    const body = wireBody({ prompt: input.prompt, params: input.params });
    const outcome = await this.ledger.reserve({
      ...(input.idempotencyKey === undefined ? {} : { key: input.idempotencyKey }),
      requestHash: requestHash(body),
      request: body,
      estimate: input.estimate,
      newJob: input.newJob,
    });
    if (outcome.kind === 'over_budget') {
      const remaining = outcome.budget.remaining ?? 0;
      throw new BudgetExceededError(
        outcome.budget,
        outcome.needed,
        cheaperOptions(input.params, remaining, this.prices),
      );
    }
    if (outcome.kind === 'key_conflict')
      throw new IdempotencyConflictError(input.idempotencyKey ?? '', outcome.record);
    if (outcome.kind === 'attached')
      return { record: outcome.record, kind: 'attached', budget: outcome.budget };
    try {
      // Not aborted with the caller: once sent, the POST must be answered, or a paid job would have no id here.
      const accepted = await this.client.submitVideo(body, { idempotencyKey: outcome.record.key });
      const record = await this.ledger.markSubmitted(outcome.record.key, accepted.jobId);
      this.account.invalidate();
      log.info('job submitted', {
        jobId: accepted.jobId,
        credits: input.estimate.credits,
        attempts: accepted.attempts,
      });
      return {
        record,
        kind: outcome.kind === 'resume' ? 'resumed' : 'submitted',
        budget: await this.ledger.budget(),
      };
    } catch (error) {
      if (definitelyNotCreated(error)) {
        await this.ledger.markRejected(
          outcome.record.key,
          error instanceof SeedanceError ? error.message : 'rejected',
        );
      } else {
        log.warn('submission outcome unknown; an identical call will resume it with the same key', {
          key: outcome.record.key,
        });
      }
      throw error;
    }
  }

  /** Waits until the job ends or `waitMs` passes; `onUpdate` sees every poll. Cancellation stops the wait only. */
  waitFor(
    jobId: string,
    waitMs: number,
    onUpdate: (job: Job) => void,
    signal?: AbortSignal,
  ): Promise<WaitOutcome> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (outcome: WaitOutcome | SeedanceError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        unsubscribe();
        if (outcome instanceof SeedanceError) reject(outcome);
        else resolve(outcome);
      };
      const onAbort = () =>
        finish(
          new SeedanceError('cancelled', 'Waiting was cancelled by the client; the job keeps running.', {
            recovery: `Call get_video with job_id ${jobId} to see it later.`,
            details: { jobId },
          }),
        );
      const unsubscribe = this.watcher.watch(jobId, {
        update: (job) => {
          onUpdate(job);
          if (TERMINAL_STATUSES.has(job.status)) finish({ job, timedOut: false });
        },
        error: (error) => finish(pollFailed(error, jobId)),
      });
      if (settled) return;
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(
        () => finish({ job: this.watcher.latest(jobId), timedOut: true }),
        Math.max(0, waitMs),
      );
    });
  }

  /**
   * Keeps a job polled after its caller stopped waiting, so it is settled and downloaded when it ends even if nobody
   * asks again.
   */
  finishInBackground(jobId: string): void {
    if (this.finishers.has(jobId)) return;
    this.finishers.add(jobId);
    const unsubscribe = this.watcher.watch(jobId, {
      update: (job) => {
        if (!TERMINAL_STATUSES.has(job.status)) return;
        this.finishers.delete(jobId);
        queueMicrotask(unsubscribe);
        void this.finish(job).catch((error: unknown) =>
          log.warn('background finish failed', { jobId, error: String(error) }),
        );
      },
      error: (error) => {
        this.finishers.delete(jobId);
        queueMicrotask(unsubscribe);
        log.warn('stopped following a job', { jobId, code: error.code });
      },
    });
  }

  /** Jobs in flight whose process died: followed to the end here. */
  async resumeOrphans(): Promise<number> {
    const orphans = await this.ledger.orphans();
    for (const record of orphans) if (record.jobId !== null) this.finishInBackground(record.jobId);
    if (orphans.length > 0)
      log.info('following jobs left in flight by an earlier process', { jobs: orphans.length });
    return orphans.length;
  }

  /** Records the final state and, for a completed job, downloads its files (once, across processes). */
  finish(job: Job, signal?: AbortSignal): Promise<Finished> {
    let running = this.finishing.get(job.id);
    if (running === undefined) {
      running = this.doFinish(job, signal).finally(() => this.finishing.delete(job.id));
      this.finishing.set(job.id, running);
    }
    return running;
  }

  private async doFinish(job: Job, signal: AbortSignal | undefined): Promise<Finished> {
    await this.recordPoll(job);
    let record = await this.ledger.findByJobId(job.id);
    if (record === undefined) throw new Error(`job ${job.id} vanished from the ledger`);
    if (job.status !== 'COMPLETED' || record.downloads.length > 0)
      return { record, downloadError: undefined };
    for (;;) {
      const claim = await this.ledger.claimDownload(job.id);
      if (claim.kind === 'done') {
        record = (await this.ledger.findByJobId(job.id)) ?? record;
        return { record, downloadError: undefined };
      }
      if (claim.kind === 'claimed') break;
      await new Promise((resolve) => setTimeout(resolve, this.options.claimPollMs));
      if (signal?.aborted) return { record, downloadError: undefined };
    }
    try {
      const files = await this.download(record, job, signal);
      record = await this.ledger.recordDownload(job.id, files);
      return { record, downloadError: undefined };
    } catch (error) {
      await this.ledger.releaseDownload(job.id);
      if (error instanceof SeedanceError) return { record, downloadError: error };
      throw error;
    }
  }

  private async download(
    record: JobRecord,
    job: Job,
    signal: AbortSignal | undefined,
  ): Promise<DownloadedFile[]> {
    const videoUrl = job.result?.videoUrl ?? record.result?.videoUrl ?? null;
    if (videoUrl === null) {
      throw new DownloadError(
        'The job completed but Apiframe gave no video URL.',
        'Call get_video again later.',
      );
    }
    const prompt = record.request.prompt || job.prompt || 'video';
    const base = outputBaseName(prompt, job.id, new Date(record.createdAt));
    const common = {
      maxBytes: this.options.maxDownloadBytes,
      timeoutMs: this.options.downloadTimeoutMs,
      signal,
      userAgent: this.options.userAgent,
    };
    const video = await downloadFile(videoUrl, this.options.outputDir, `${base}.mp4`, {
      ...common,
      kind: 'video',
    });
    const files: DownloadedFile[] = [{ kind: 'video', url: videoUrl, ...video }];
    const lastFrameUrl = job.result?.lastFrameUrl ?? record.result?.lastFrameUrl ?? null;
    if (lastFrameUrl !== null) {
      const frame = await downloadFile(lastFrameUrl, this.options.outputDir, `${base}_last-frame.png`, {
        ...common,
        kind: 'image',
      });
      files.push({ kind: 'last_frame', url: lastFrameUrl, ...frame });
    }
    log.info('job downloaded', { jobId: job.id, path: video.path, bytes: video.bytes });
    return files;
  }
}

/**
 * Polling failed while a paid job renders: the answer names the job, so that the agent waits on it with get_video
 * instead of losing track of it (or paying for it again).
 */
function pollFailed(error: SeedanceError, jobId: string): SeedanceError {
  return new SeedanceError(error.code, `${error.message} (while following video job ${jobId})`, {
    recovery: `${error.recovery} The video job ${jobId} was submitted, is recorded and keeps rendering: call get_video with job_id "${jobId}", not generate_video.`,
    details: { ...error.details, jobId },
    cause: error,
  });
}

/** A 4xx means Apiframe refused before creating anything; anything else may have created a job. */
function definitelyNotCreated(error: unknown): boolean {
  if (error instanceof RateLimitError) return true;
  if (error instanceof ApiframeError)
    return error.status !== undefined && error.status < 500 && !error.outcomeUnknown;
  return error instanceof SeedanceError && error.code === 'missing_api_key';
}
