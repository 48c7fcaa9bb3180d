/**
 * Polls Apiframe for the jobs somebody is waiting on: at most one poller per job id however many waiters there
 * are, on a schedule that starts quickly and backs off to a cap. Every poll is passed to the listeners (progress
 * notifications go out on each), and the last one seen is kept.
 */
import type { ApiframeClient } from '../apiframe/client.js';
import { ApiframeError, AuthenticationError, NotFoundError } from '../apiframe/errors.js';
import { type Job, TERMINAL_STATUSES } from '../apiframe/schemas.js';
import { SeedanceError } from '../errors.js';
import { log } from '../log.js';

export interface PollSchedule {
  /** Wait before the second poll (the first is immediate). */
  firstMs: number;
  factor: number;
  capMs: number;
}

/**
 * Apiframe's SDK polls every 2 s, x1.5, capped at 5 s. A cap of 2 s keeps the lag between completion upstream and
 * the answer under about 2 s, at 30 requests a minute per job.
 */
export const DEFAULT_POLL: PollSchedule = { firstMs: 1_000, factor: 1.5, capMs: 2_000 };

/** Consecutive failed polls (each already retried by the client) before waiters are told. */
const MAX_POLL_FAILURES = 3;

export interface JobListener {
  update(job: Job): void;
  error(error: SeedanceError): void;
}

interface Watch {
  listeners: Set<JobListener>;
  timer: NodeJS.Timeout | undefined;
  delayMs: number;
  latest: Job | undefined;
  failures: number;
  polling: boolean;
}

export class JobWatcher {
  private readonly watches = new Map<string, Watch>();
  /** Upstream job polls made, for benchmarks and tests. */
  polls = 0;

  constructor(
    private readonly client: ApiframeClient,
    private readonly schedule: PollSchedule,
    /** Sees every poll before the listeners do: the ledger records status changes here. */
    private readonly onPoll: (job: Job) => Promise<void>,
  ) {}

  get watching(): number {
    return this.watches.size;
  }

  latest(jobId: string): Job | undefined {
    return this.watches.get(jobId)?.latest;
  }

  /** Starts (or joins) polling of a job; the returned function stops listening. */
  watch(jobId: string, listener: JobListener): () => void {
    let watch = this.watches.get(jobId);
    if (watch === undefined) {
      watch = {
        listeners: new Set(),
        timer: undefined,
        delayMs: this.schedule.firstMs,
        latest: undefined,
        failures: 0,
        polling: false,
      };
      this.watches.set(jobId, watch);
      watch.listeners.add(listener);
      void this.poll(jobId, watch);
    } else {
      watch.listeners.add(listener);
      const { latest } = watch;
      const joined = watch;
      // Asynchronously, like every other update: the caller has not got its unsubscribe function yet.
      if (latest !== undefined)
        queueMicrotask(() => joined.listeners.has(listener) && listener.update(latest));
    }
    const current = watch;
    return () => {
      current.listeners.delete(listener);
      if (current.listeners.size === 0) this.stop(jobId, current);
    };
  }

  private stop(jobId: string, watch: Watch): void {
    clearTimeout(watch.timer);
    if (this.watches.get(jobId) === watch) this.watches.delete(jobId);
  }

  private async poll(jobId: string, watch: Watch): Promise<void> {
    if (watch.polling || this.watches.get(jobId) !== watch) return;
    watch.polling = true;
    this.polls += 1;
    let job: Job | undefined;
    let failure: SeedanceError | undefined;
    try {
      job = await this.client.getJob(jobId);
      await this.onPoll(job);
    } catch (error) {
      failure =
        error instanceof SeedanceError
          ? error
          : new SeedanceError('internal', `polling job ${jobId} failed`, {
              recovery: 'Call get_video with this job_id again.',
              cause: error,
            });
    } finally {
      watch.polling = false;
    }
    if (this.watches.get(jobId) !== watch) return;
    if (job !== undefined) {
      watch.failures = 0;
      watch.latest = job;
      for (const listener of [...watch.listeners]) listener.update(job);
      if (TERMINAL_STATUSES.has(job.status)) {
        this.stop(jobId, watch);
        return;
      }
    } else if (failure !== undefined) {
      watch.failures += 1;
      const fatal =
        failure instanceof NotFoundError ||
        failure instanceof AuthenticationError ||
        !(failure instanceof ApiframeError) ||
        watch.failures >= MAX_POLL_FAILURES;
      log.warn('job poll failed', { jobId, code: failure.code, failures: watch.failures });
      if (fatal) {
        this.stop(jobId, watch);
        for (const listener of [...watch.listeners]) listener.error(failure);
        return;
      }
    }
    watch.timer = setTimeout(() => void this.poll(jobId, watch), watch.delayMs);
    // The stdio transport keeps the process alive; a pending poll alone must not.
    watch.timer.unref();
    watch.delayMs = Math.min(this.schedule.capMs, Math.round(watch.delayMs * this.schedule.factor));
  }

  close(): void {
    for (const [jobId, watch] of this.watches) this.stop(jobId, watch);
  }
}
