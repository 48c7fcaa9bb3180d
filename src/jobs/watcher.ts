/**
 * Polls Apiframe for the jobs somebody is waiting on: at most one poller per job id however many waiters there
 * are, on a schedule that starts quickly and backs off to a cap. Every poll is passed to the listeners (progress
 * notifications go out on each), and the last one seen is kept.
 *
 * With many jobs in flight, one `GET /v2/jobs` every capMs serves all of them instead of one `GET /v2/jobs/{id}`
 * each: upstream requests then stay flat however many jobs there are. A job the list does not show (older than its
 * first pages) or shows ended, and every job when the list fails, gets its own GET: the list carries neither the
 * job's input nor, in every version of the docs, its result, so the final word always comes from the job itself.
 *
 * When several hosts share the ledger, one poller per job across all of them: a host polls a job upstream only while
 * it holds the job's lease (renewed with each poll); the others follow the job as the ledger records it, looking
 * again as soon as the ledger announces a change, and take the lease over when its holder stops renewing it.
 */
import type { ApiframeClient } from '../apiframe/client.js';
import { type Job, TERMINAL_STATUSES } from '../apiframe/schemas.js';
import {
  ApiframeError,
  AuthenticationError,
  NotFoundError,
  SeedanceError,
  UnexpectedError,
} from '../core/errors.js';
import { log } from '../core/log.js';
import type { JobLeases } from '../ledger/types.js';

export interface PollSchedule {
  /** Wait before the second poll (the first is immediate). */
  firstMs: number;
  factor: number;
  capMs: number;
  /** From this many jobs watched at once, they are polled together through the job list (never, when unset). */
  batchFrom?: number;
}

/**
 * Apiframe's SDK polls every 2 s, x1.5, capped at 5 s. A cap of 2 s keeps the lag between completion upstream and
 * the answer under about 2 s, at 30 requests a minute per job; from 4 jobs at once, 30 a minute for all of them.
 */
export const DEFAULT_POLL: PollSchedule = { firstMs: 1_000, factor: 1.5, capMs: 2_000, batchFrom: 4 };

/**
 * With webhooks (HTTP mode with SEEDANCE_PUBLIC_URL), a webhook makes the job polled at once, and polling is only the
 * safety net for webhooks that never come: a job still ends within about 15 s of finishing upstream.
 */
export const SAFETY_NET_POLL: PollSchedule = { firstMs: 2_000, factor: 2, capMs: 15_000, batchFrom: 4 };

/** Apiframe's largest page of the job list. */
const LIST_PAGE = 100;
/** Pages of the job list read per batched poll, at most; jobs further back get their own GET. */
const LIST_PAGES = 3;

/** Consecutive failed polls (each already retried by the client) before waiters are told. */
const MAX_POLL_FAILURES = 3;

export interface JobListener {
  update(job: Job): void;
  error(error: SeedanceError): void;
}

/** A ledger shared by several hosts: who polls which job, and each job as last recorded by whoever polled it. */
export interface SharedJobs {
  leases: JobLeases;
  recorded(jobId: string): Promise<Job | undefined>;
}

interface Watch {
  listeners: Set<JobListener>;
  timer: NodeJS.Timeout | undefined;
  delayMs: number;
  latest: Job | undefined;
  failures: number;
  polling: boolean;
  /** Polled through the job list rather than on its own timer. */
  batched: boolean;
  /** A hint came while a poll was in flight: poll again as soon as it settles. */
  hinted: boolean;
  /** The poll in flight, settled once its outcome is recorded and passed on. */
  inflight: Promise<void> | undefined;
  /** This host polls it upstream (always, unless another host holds its lease). */
  held: boolean;
}

export class JobWatcher {
  private readonly watches = new Map<string, Watch>();
  /** Upstream job polls made (job list pages included), for benchmarks and tests. */
  polls = 0;
  /** Of which job list pages. */
  listPolls = 0;
  private batchTimer: NodeJS.Timeout | undefined;
  private batchRunning = false;
  private readonly stopListening: (() => void) | undefined;

  constructor(
    private readonly client: ApiframeClient,
    private readonly schedule: PollSchedule,
    /** Sees every poll before the listeners do: the ledger records status changes here. */
    private readonly onPoll: (job: Job) => Promise<void>,
    private readonly shared?: SharedJobs,
  ) {
    this.stopListening = shared?.leases.onChange((jobId) => {
      const watch = this.watches.get(jobId);
      // The holder polls on its own schedule; a follower looks at the ledger at once.
      if (watch !== undefined && !watch.held && !watch.polling) void this.poll(jobId, watch);
    });
  }

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
        batched: false,
        hinted: false,
        inflight: undefined,
        held: true,
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

  /**
   * A source other than polling (a webhook) says the job changed: its own GET goes out now instead of at the next
   * scheduled poll, and is what listeners see; the hint itself is never taken as the job's state. Resolves once that
   * poll is recorded; undefined when the job is not watched.
   */
  pollNow(jobId: string): Promise<void> | undefined {
    const watch = this.watches.get(jobId);
    if (watch === undefined) return undefined;
    if (watch.polling) {
      watch.hinted = true;
      return watch.inflight ?? Promise.resolve();
    }
    clearTimeout(watch.timer);
    return this.poll(jobId, watch);
  }

  /** The poll of a job in flight now, if any. */
  inflight(jobId: string): Promise<void> | undefined {
    return this.watches.get(jobId)?.inflight;
  }

  private stop(jobId: string, watch: Watch): void {
    clearTimeout(watch.timer);
    if (this.watches.get(jobId) === watch) this.watches.delete(jobId);
    // Given up only while the job runs: an ended job's lease just lapses, so that no host polls it again.
    const ended = watch.latest !== undefined && TERMINAL_STATUSES.has(watch.latest.status);
    if (watch.held && !ended) void this.shared?.leases.release(jobId);
  }

  private async poll(jobId: string, watch: Watch): Promise<void> {
    if (watch.polling || this.watches.get(jobId) !== watch) return;
    watch.polling = true;
    watch.batched = false;
    clearTimeout(watch.timer);
    watch.inflight = this.settle(jobId, watch, () => this.fetch(jobId, watch));
    await watch.inflight;
  }

  /** The job from upstream, unless another host holds its lease: then as that host last recorded it. */
  private async fetch(jobId: string, watch: Watch): Promise<Job> {
    if (this.shared !== undefined) {
      watch.held = await this.shared.leases.hold(jobId);
      const recorded = watch.held ? undefined : await this.shared.recorded(jobId);
      // A job its holder has not recorded yet (found upstream a moment ago) is asked for here too.
      if (recorded !== undefined) return recorded;
    }
    this.polls += 1;
    return this.client.getJob(jobId);
  }

  /** Records one poll's outcome (the job as `fetch` gives it, or its failure) and decides when the next one is. */
  private async settle(jobId: string, watch: Watch, fetch: () => Promise<Job>): Promise<void> {
    watch.polling = true;
    let job: Job | undefined;
    let failure: SeedanceError | undefined;
    try {
      job = await fetch();
      await this.onPoll(job);
    } catch (error) {
      failure =
        error instanceof SeedanceError
          ? error
          : new UnexpectedError(
              `polling job ${jobId} failed`,
              'Call get_video with this job_id again.',
              error,
            );
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
    if (watch.hinted) {
      watch.hinted = false;
      void this.poll(jobId, watch);
      return;
    }
    if (job !== undefined && watch.held && this.batching()) {
      watch.batched = true;
      this.scheduleBatch();
      return;
    }
    watch.timer = setTimeout(() => void this.poll(jobId, watch), watch.delayMs);
    // The stdio transport keeps the process alive; a pending poll alone must not.
    watch.timer.unref();
    watch.delayMs = Math.min(this.schedule.capMs, Math.round(watch.delayMs * this.schedule.factor));
  }

  private batching(): boolean {
    const from = this.schedule.batchFrom;
    return from !== undefined && this.watches.size >= from;
  }

  private scheduleBatch(): void {
    if (this.batchTimer !== undefined || this.batchRunning) return;
    this.batchTimer = setTimeout(() => void this.pollBatch(), this.schedule.capMs);
    this.batchTimer.unref();
  }

  /** One poll of every batched job through the job list; each job the list cannot settle gets its own GET. */
  private async pollBatch(): Promise<void> {
    this.batchTimer = undefined;
    let members = [...this.watches].filter(([, watch]) => watch.batched && !watch.polling);
    if (members.length === 0) return;
    if (!this.batching()) {
      for (const [jobId, watch] of members) void this.poll(jobId, watch);
      return;
    }
    if (this.shared !== undefined) {
      // Leases are renewed with each poll, the batched ones too; a job whose lease was lost is followed on its own.
      const { leases } = this.shared;
      const held = await Promise.all(members.map(([jobId]) => leases.hold(jobId).catch(() => true)));
      for (const [i, [jobId, watch]] of members.entries()) {
        watch.held = held[i] ?? true;
        if (!watch.held) void this.poll(jobId, watch);
      }
      members = members.filter(([, watch]) => watch.held);
    }
    this.batchRunning = true;
    const listed = new Map<string, Job>();
    try {
      let cursor: string | undefined;
      for (let page = 0; page < LIST_PAGES; page++) {
        this.polls += 1;
        this.listPolls += 1;
        // No model filter: the jobs followed may be of any model of the family.
        const answer = await this.client.listJobs({
          limit: LIST_PAGE,
          ...(cursor === undefined ? {} : { cursor }),
        });
        for (const job of answer.jobs) listed.set(job.id, job);
        if (members.every(([jobId]) => listed.has(jobId)) || !answer.hasMore || answer.nextCursor === null)
          break;
        cursor = answer.nextCursor;
      }
    } catch (error) {
      // Each job then asks for itself; its own GET counts and reports failures as usual.
      log.debug('job list poll failed; polling the jobs one by one', { error: String(error) });
    } finally {
      this.batchRunning = false;
    }
    const settled: Promise<void>[] = [];
    for (const [jobId, watch] of members) {
      if (this.watches.get(jobId) !== watch || !watch.batched || watch.polling) continue;
      const job = listed.get(jobId);
      if (job === undefined || TERMINAL_STATUSES.has(job.status)) void this.poll(jobId, watch);
      else settled.push(this.settle(jobId, watch, async () => job));
    }
    await Promise.all(settled);
    // A job that joined while the list was being read found the batch running and could not schedule it: whatever
    // happened to this round's members (ended, or each on its own after a failed list), it is still waiting.
    if ([...this.watches.values()].some((watch) => watch.batched && !watch.polling)) this.scheduleBatch();
  }

  close(): void {
    this.stopListening?.();
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    for (const [jobId, watch] of this.watches) this.stop(jobId, watch);
  }
}
