/**
 * The life of a paid job: reserve in the ledger (or attach to an identical request), submit once with an
 * idempotency key that every retry reuses, wait with a deadline while polls report progress, then settle the cost
 * and download the result exactly once. Jobs nobody waits for any more are finished in the background, and jobs
 * left behind by a dead process are picked up on start.
 */
import type { AccountCache } from '../apiframe/account.js';
import type { ApiframeClient } from '../apiframe/client.js';
import { type Job, TERMINAL_STATUSES } from '../apiframe/schemas.js';
import {
  ApiframeError,
  BudgetExceededError,
  CancelledError,
  DownloadError,
  IdempotencyConflictError,
  MissingApiKeyError,
  RateLimitError,
  SeedanceError,
  ShuttingDownError,
  UnknownRecordError,
} from '../core/errors.js';
import type { Fetcher } from '../core/guarded-fetch.js';
import { log } from '../core/log.js';
import { quoted } from '../core/redact.js';
import {
  type Model,
  type WebhookEvent,
  type WireSeedanceParams,
  type WireVideoRequest,
  wireBody,
} from '../domain/params.js';
import {
  cheaperOptions,
  type Estimate,
  knownEstimate,
  type PricedParams,
  type Prices,
  type RateBook,
} from '../domain/pricing.js';
import { requestHash } from '../domain/request-hash.js';
import type {
  BudgetSnapshot,
  DownloadedFile,
  JobRecord,
  JobUpdate,
  Ledger,
  MemberScope,
} from '../ledger/types.js';
import { downloadFile } from './download.js';
import { JobFeed } from './feed/feed.js';
import type { PollSchedule } from './feed/schedule.js';
import { outputBaseName } from './naming.js';

export interface SubmitInput {
  model: Model;
  prompt: string;
  params: WireSeedanceParams;
  estimate: Estimate;
  idempotencyKey?: string | undefined;
  newJob: boolean;
  /** Whose request it is (over HTTP): their own budget applies too, and they attach only to their own jobs. */
  member?: MemberScope | undefined;
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

/** Where following a job up to a deadline left it. */
export interface Followed {
  record: JobRecord;
  /** The job's latest state, when it has an id and was polled. */
  job: Job | undefined;
  /** The job completed but its files were still being saved at the deadline: they are saved in the background. */
  stillSaving: boolean;
  /** The job completed but its files could not be saved; the job itself is safe. */
  downloadError: SeedanceError | undefined;
}

/** However close the deadline, a completed job's files get this long to be saved before the answer goes. */
const SAVE_GRACE_MS = 2_000;

export interface JobServiceOptions {
  poll: PollSchedule;
  outputDir: string;
  maxDownloadBytes: number;
  downloadTimeoutMs: number;
  userAgent: string;
  /** How result files are fetched. */
  fetch: Fetcher;
  /** Set when Apiframe is to send webhooks for new jobs (HTTP mode with a public URL). */
  webhook?: { url: string; events: WebhookEvent[] } | undefined;
  /** How often to look at the ledger while another process downloads a job. */
  claimPollMs: number;
  /** The most a second may cost per model, as Apiframe's catalog last said (app/catalog.ts). */
  rateBounds?: () => Partial<Record<Model, number>>;
}

/**
 * A creditCost over this many times the estimate is taken for an upstream error, not a price: the most a price
 * table change or a reference video (x2) could explain is far below it.
 */
const COST_ANOMALY_FACTOR = 10;

/**
 * A poll as the ledger records it. `estimate` is the record's (null for a job found upstream): a creditCost wildly
 * above it is recorded as an anomaly and the job charged at the estimate for budgeting.
 */
export function jobUpdate(job: Job, estimate: Estimate | null = null): JobUpdate {
  const anomalies = [...job.anomalies];
  let creditCost = job.creditCost;
  if (creditCost !== null && estimate !== null && creditCost > estimate.credits * COST_ANOMALY_FACTOR) {
    anomalies.push(
      `Apiframe reported a creditCost of ${creditCost} for a video estimated at ${estimate.credits} credits (over ${COST_ANOMALY_FACTOR}x); the budget counts it at the estimate. Ask the user to check the account's usage in the Apiframe dashboard.`,
    );
    creditCost = estimate.credits;
  }
  return {
    status: job.status,
    progress: job.progress,
    creditCost,
    anomalies,
    result:
      job.result === undefined
        ? null
        : {
            videoUrl: job.result.videoUrl ?? null,
            lastFrameUrl: job.result.lastFrameUrl ?? null,
            raw: job.result.raw,
          },
    failure: job.error === null ? null : `Apiframe said: ${quoted(job.error, UPSTREAM_FAILURE_CHARS)}`,
    prompt: job.prompt,
  };
}

/** A failed job's reason, as Apiframe gave it, at most this long in results and the ledger. */
const UPSTREAM_FAILURE_CHARS = 500;

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
    // Anomalies are the record's already (upstreamAnomalies); this is no new poll of upstream.
    anomalies: [],
  };
}

export class JobService {
  /** The last status recorded in the ledger per job, so polls write only changes. */
  private readonly recorded = new Map<string, string>();
  private readonly finishing = new Map<string, Promise<Finished>>();
  private readonly finishers = new Set<string>();
  /** Submissions whose POST is not answered yet, by idempotency key. */
  private readonly posting = new Map<string, Promise<string>>();
  /** Aborted on shutdown: waits end with an answer, downloads stop. */
  private readonly stopping = new AbortController();

  readonly feed: JobFeed;

  constructor(
    private readonly client: ApiframeClient,
    private readonly ledger: Ledger,
    private readonly account: AccountCache,
    private readonly prices: Prices,
    private readonly options: JobServiceOptions,
  ) {
    const { leases } = ledger;
    this.feed = new JobFeed(
      client,
      options.poll,
      (job) => this.recordPoll(job),
      leases === undefined
        ? undefined
        : { leases, recorded: async (jobId) => recordedJob(await ledger.findByJobId(jobId)) },
    );
  }

  close(): void {
    this.feed.close();
  }

  /**
   * The rates to price these videos with: the published ones, and those learned from this account's charges. The
   * ledger is read only when a video has no published rate, so pricing a published video stays a memory-only call.
   */
  async rates(videos: readonly PricedParams[]): Promise<RateBook> {
    const published: RateBook = { prices: this.prices, learned: [] };
    if (videos.every((video) => knownEstimate(video, published) !== undefined)) return published;
    return {
      prices: this.prices,
      learned: await this.ledger.learnedRates(),
      bounds: this.options.rateBounds?.() ?? {},
    };
  }

  /** Called by the feed on every update, before its listeners. */
  async recordPoll(job: Job): Promise<void> {
    if (this.recorded.get(job.id) === job.status) return;
    const known = await this.ledger.findByJobId(job.id);
    const update = jobUpdate(job, known?.estimate ?? null);
    const fresh = (update.anomalies ?? []).filter((a) => !known?.upstreamAnomalies.includes(a));
    if (fresh.length > 0)
      log.warn('kept out of the ledger what Apiframe sent', { jobId: job.id, anomalies: fresh });
    if (known === undefined) await this.ledger.recordDiscovered(job.id, update);
    else await this.ledger.updateJob(job.id, update);
    if (TERMINAL_STATUSES.has(job.status)) this.account.invalidate();
    this.recorded.set(job.id, job.status);
  }

  async submit(input: SubmitInput, signal?: AbortSignal): Promise<Submission> {
    if (signal?.aborted) throw new CancelledError('generate_video');
    const body = wireBody({ model: input.model, prompt: input.prompt, params: input.params });
    const outcome = await this.ledger.reserve({
      ...(input.idempotencyKey === undefined ? {} : { key: input.idempotencyKey }),
      requestHash: requestHash(body),
      request: body,
      estimate: input.estimate,
      newJob: input.newJob,
      ...(input.member === undefined ? {} : { member: input.member }),
    });
    if (outcome.kind === 'over_budget') {
      const remaining = outcome.budget.remaining ?? 0;
      throw new BudgetExceededError(
        outcome.budget,
        outcome.needed,
        cheaperOptions(
          { ...input.params, model: input.model },
          remaining,
          await this.rates([{ ...input.params, model: input.model }]),
        ),
      );
    }
    if (outcome.kind === 'key_conflict')
      throw new IdempotencyConflictError(input.idempotencyKey ?? '', outcome.record.jobId);
    if (outcome.kind === 'attached')
      return { record: outcome.record, kind: 'attached', budget: outcome.budget };
    const jobId = await this.post(outcome.record.key, body);
    log.info('job submitted', { jobId, credits: input.estimate.credits });
    return {
      record: (await this.ledger.findByJobId(jobId)) ?? outcome.record,
      kind: outcome.kind === 'resume' ? 'resumed' : 'submitted',
      budget: await this.ledger.budget(input.member?.budgetLimit == null ? undefined : input.member),
    };
  }

  /**
   * POSTs a recorded submission and records the job id it gets. Not aborted with the caller: once sent, the POST must
   * be answered, or a paid job would have no id here. A shutdown waits for it (see shutdown), then answers the caller
   * with what to do while the POST runs on.
   */
  private post(key: string, body: WireVideoRequest): Promise<string> {
    let posting = this.posting.get(key);
    if (posting === undefined) {
      posting = this.sendAndRecord(key, body).finally(() => this.posting.delete(key));
      this.posting.set(key, posting);
    }
    const { signal } = this.stopping;
    if (signal.aborted) return Promise.reject(new ShuttingDownError({ idempotencyKey: key }));
    return new Promise((resolve, reject) => {
      const onStop = () => reject(new ShuttingDownError({ idempotencyKey: key }));
      signal.addEventListener('abort', onStop, { once: true });
      posting.then(resolve, reject).finally(() => signal.removeEventListener('abort', onStop));
    });
  }

  private async sendAndRecord(key: string, body: WireVideoRequest): Promise<string> {
    try {
      const { webhook } = this.options;
      // The webhook fields ride on the POST only: the ledger's request (and its hash) stays what the agent asked for.
      const sent =
        webhook === undefined ? body : { ...body, webhookUrl: webhook.url, webhookEvents: webhook.events };
      const accepted = await this.client.submitVideo(sent, { idempotencyKey: key });
      await this.ledger.markSubmitted(key, accepted.jobId);
      this.account.invalidate();
      return accepted.jobId;
    } catch (error) {
      if (definitelyNotCreated(error)) {
        await this.ledger.markRejected(key, error instanceof SeedanceError ? error.message : 'rejected');
      } else {
        log.warn('submission outcome unknown; an identical call will resume it with the same key', { key });
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
        this.stopping.signal.removeEventListener('abort', onStop);
        unsubscribe();
        if (outcome instanceof SeedanceError) reject(outcome);
        else resolve(outcome);
      };
      const onAbort = () => finish(new CancelledError('Waiting', jobId));
      const onStop = () => finish(new ShuttingDownError({ jobId }));
      const unsubscribe = this.feed.watch(jobId, {
        update: (job) => {
          onUpdate(job);
          if (TERMINAL_STATUSES.has(job.status)) finish({ job, timedOut: false });
        },
        error: (error) => finish(pollFailed(error, jobId)),
      });
      if (settled) return;
      if (signal?.aborted) return onAbort();
      if (this.stopping.signal.aborted) return onStop();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.stopping.signal.addEventListener('abort', onStop, { once: true });
      timer = setTimeout(() => finish({ job: this.feed.latest(jobId), timedOut: true }), Math.max(0, waitMs));
    });
  }

  /**
   * Waits for a job until `deadline` (epoch ms), passing each poll to `onProgress`; then finishes it (settle,
   * download) or leaves it to finish in the background. A record without a job id yet is returned as it is.
   */
  async follow(
    initial: JobRecord,
    deadline: number,
    onProgress: (job: Job) => void,
    signal: AbortSignal,
  ): Promise<Followed> {
    const jobId = initial.jobId;
    if (jobId === null)
      return { record: initial, job: undefined, stillSaving: false, downloadError: undefined };
    const waited = await this.waitFor(jobId, Math.max(0, deadline - Date.now()), onProgress, signal).catch(
      (error: unknown) => {
        // The caller stopped listening (cancelled, or polling failed): the paid job must still be settled and saved.
        this.finishInBackground(jobId);
        throw error;
      },
    );
    const job = waited.job;
    if (job === undefined || waited.timedOut) {
      this.finishInBackground(jobId);
      const record = (await this.ledger.findByJobId(jobId)) ?? initial;
      return { record, job, stillSaving: false, downloadError: undefined };
    }
    // The files are saved whatever happens; the answer waits for them only until the deadline (a slow CDN must
    // not hold the call past the time the client gives it).
    const saving = this.finish(job);
    const finished = await until(saving, Math.max(deadline - Date.now(), SAVE_GRACE_MS), signal);
    if (finished === undefined) {
      saving.catch((error: unknown) => log.warn('saving a video failed', { jobId, error: String(error) }));
      const record = (await this.ledger.findByJobId(jobId)) ?? initial;
      return { record, job, stillSaving: true, downloadError: undefined };
    }
    return { record: finished.record, job, stillSaving: false, downloadError: finished.downloadError };
  }

  /**
   * A webhook said the job changed. It is only a hint (anyone could have sent it, and it may be stale): the job is
   * polled now, by the poller following it or by a new one, and one GET decides. `unknown`: not a job of this ledger,
   * and nothing is fetched for it.
   */
  async hint(jobId: string): Promise<'polled' | 'unknown'> {
    const polled = this.feed.hint(jobId);
    if (polled === undefined) {
      if ((await this.ledger.findByJobId(jobId)) === undefined) return 'unknown';
      // Nobody follows it any more: a poller starts, and its first poll (immediate) is the confirming GET.
      this.finishInBackground(jobId);
      await this.feed.inflight(jobId);
    } else {
      await polled;
    }
    return 'polled';
  }

  /**
   * Keeps a job polled after its caller stopped waiting, so it is settled and downloaded when it ends even if nobody
   * asks again.
   */
  finishInBackground(jobId: string): void {
    // Shutting down: the next start takes the job over (see adoptOrphans).
    if (this.finishers.has(jobId) || this.stopping.signal.aborted) return;
    this.finishers.add(jobId);
    const unsubscribe = this.feed.watch(jobId, {
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

  /**
   * Takes over the work a dead process left (see Ledger.adoptOrphans): unanswered submissions are POSTed again with
   * their own idempotency key (Apiframe returns the original job, or creates the one never created), jobs in flight
   * are followed to the end, completed jobs not yet saved are downloaded.
   */
  async adoptOrphans(): Promise<number> {
    const orphans = await this.ledger.adoptOrphans();
    for (const record of orphans) {
      if (record.jobId !== null) this.finishInBackground(record.jobId);
      else
        void this.post(record.key, record.request)
          .then((jobId) => this.finishInBackground(jobId))
          .catch((error: unknown) =>
            log.warn('could not resume an unanswered submission', { key: record.key, error: String(error) }),
          );
    }
    if (orphans.length > 0)
      log.info('took over work left by an earlier process', {
        submissions: orphans.filter((r) => r.jobId === null).length,
        jobs: orphans.filter((r) => r.jobId !== null).length,
      });
    return orphans.length;
  }

  /**
   * Shutting down: every wait ends at once with an answer naming its job; submissions still unanswered get up to
   * `graceMs` to have their job id recorded (after that the next start resumes them); downloads in progress are
   * stopped and their temporary files removed, for the next start to download again.
   */
  async shutdown(graceMs: number): Promise<void> {
    const posts = [...this.posting.values()];
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.allSettled(posts), grace]);
    this.stopping.abort();
    await Promise.allSettled([...this.finishing.values()]);
    this.feed.close();
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
    if (record === undefined) throw new UnknownRecordError(`job ${job.id}`);
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
      if (signal?.aborted || this.stopping.signal.aborted) return { record, downloadError: undefined };
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
      signal: signal === undefined ? this.stopping.signal : AbortSignal.any([signal, this.stopping.signal]),
      userAgent: this.options.userAgent,
      fetch: this.options.fetch,
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

/** The promise's value, or undefined once `ms` pass or the caller cancels (the promise itself runs on). */
function until<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      resolve(undefined);
    };
    const timer = setTimeout(stop, ms);
    signal.addEventListener('abort', stop, { once: true });
    promise.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
        reject(error);
      },
    );
  });
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
  return error instanceof MissingApiKeyError;
}
