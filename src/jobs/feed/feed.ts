/**
 * The job feed: the one place where news about a job arrives, is recorded, and is passed to whoever waits on it.
 * Its sources each live in their own module:
 * - job-poller.ts: one poller per job (`GET /v2/jobs/{id}`), backing off to a cap; at most one per job id however
 *   many listeners there are;
 * - batch-poller.ts: from `batchFrom` jobs in flight, one `GET /v2/jobs` serves them all;
 * - ledger-follower.ts: with a ledger shared by several hosts, only the lease holder polls a job upstream and the
 *   others read it from the ledger when it announces a change;
 * - `hint()`: the webhook receiver (mcp/transports/webhooks.ts, through JobService.hint) says a job changed, and its
 *   own GET goes out now. A hint is never taken as the job's state.
 * Whatever the source, each update goes through `record`: the ledger sees it first (`onPoll`), then the listeners
 * (progress notifications go out on each), and the last one seen is kept. `record` also picks the next source.
 */
import type { ApiframeClient } from '../../apiframe/client.js';
import { type Job, TERMINAL_STATUSES } from '../../apiframe/schemas.js';
import {
  ApiframeError,
  AuthenticationError,
  NotFoundError,
  SeedanceError,
  UnexpectedError,
} from '../../core/errors.js';
import { log } from '../../core/log.js';
import { BatchPoller } from './batch-poller.js';
import { JobPoller } from './job-poller.js';
import { LedgerFollower, type SharedJobs } from './ledger-follower.js';
import type { PollSchedule, UpstreamCounts } from './schedule.js';

/** Consecutive failed polls (each already retried by the client) before listeners are told. */
const MAX_POLL_FAILURES = 3;

export interface JobListener {
  update(job: Job): void;
  error(error: SeedanceError): void;
}

/** One watched job. */
interface Watch {
  listeners: Set<JobListener>;
  poller: JobPoller;
  latest: Job | undefined;
  failures: number;
  /** A poll (own or from the list) is being fetched or recorded. */
  polling: boolean;
  /** Served by the batch poller rather than its own timer. */
  batched: boolean;
  /** A hint came while a poll was in flight: poll again as soon as it is recorded. */
  hinted: boolean;
  /** The poll in flight, settled once its outcome is recorded and passed on. */
  inflight: Promise<void> | undefined;
  /** This host polls it upstream (always, unless another host holds its lease). */
  held: boolean;
}

export class JobFeed {
  private readonly watches = new Map<string, Watch>();
  private readonly counts: UpstreamCounts = { polls: 0, listPolls: 0 };
  private readonly batch: BatchPoller;
  private readonly follower: LedgerFollower | undefined;

  constructor(
    private readonly client: ApiframeClient,
    private readonly schedule: PollSchedule,
    /** Sees every update before the listeners do: the ledger records status changes here. */
    private readonly onPoll: (job: Job) => Promise<void>,
    shared?: SharedJobs,
  ) {
    this.batch = new BatchPoller(client, schedule.capMs, this.counts, () => this.batchRound());
    this.follower =
      shared === undefined
        ? undefined
        : new LedgerFollower(shared, (jobId) => {
            const watch = this.watches.get(jobId);
            // The holder polls on its own schedule; a follower looks at the ledger at once.
            if (watch !== undefined && !watch.held && !watch.polling) void this.poll(jobId, watch);
          });
  }

  /** Upstream job polls made (job list pages included), for benchmarks and tests. */
  get polls(): number {
    return this.counts.polls;
  }

  /** Of which job list pages. */
  get listPolls(): number {
    return this.counts.listPolls;
  }

  get watching(): number {
    return this.watches.size;
  }

  latest(jobId: string): Job | undefined {
    return this.watches.get(jobId)?.latest;
  }

  /** Starts (or joins) the feed of a job; the returned function stops listening. */
  watch(jobId: string, listener: JobListener): () => void {
    let watch = this.watches.get(jobId);
    if (watch === undefined) {
      watch = {
        listeners: new Set([listener]),
        poller: new JobPoller(jobId, this.client, this.schedule, this.counts),
        latest: undefined,
        failures: 0,
        polling: false,
        batched: false,
        hinted: false,
        inflight: undefined,
        held: true,
      };
      this.watches.set(jobId, watch);
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
   * scheduled poll, and is what listeners see. Resolves once that poll is recorded; undefined when the job is not
   * watched.
   */
  hint(jobId: string): Promise<void> | undefined {
    const watch = this.watches.get(jobId);
    if (watch === undefined) return undefined;
    if (watch.polling) {
      watch.hinted = true;
      return watch.inflight ?? Promise.resolve();
    }
    watch.poller.cancel();
    return this.poll(jobId, watch);
  }

  /** The poll of a job in flight now, if any. */
  inflight(jobId: string): Promise<void> | undefined {
    return this.watches.get(jobId)?.inflight;
  }

  close(): void {
    this.follower?.close();
    this.batch.close();
    for (const [jobId, watch] of this.watches) this.stop(jobId, watch);
  }

  private stop(jobId: string, watch: Watch): void {
    watch.poller.cancel();
    if (this.watches.get(jobId) === watch) this.watches.delete(jobId);
    // Given up only while the job runs: an ended job's lease just lapses, so that no host polls it again.
    const ended = watch.latest !== undefined && TERMINAL_STATUSES.has(watch.latest.status);
    if (watch.held && !ended) this.follower?.release(jobId);
  }

  /** The job's own poll: from upstream, unless another host holds its lease (then as that host recorded it). */
  private async poll(jobId: string, watch: Watch): Promise<void> {
    if (watch.polling || this.watches.get(jobId) !== watch) return;
    watch.polling = true;
    watch.batched = false;
    watch.poller.cancel();
    watch.inflight = this.record(jobId, watch, async () => {
      if (this.follower !== undefined) {
        watch.held = await this.follower.hold(jobId);
        const recorded = watch.held ? undefined : await this.follower.recorded(jobId);
        // A job its holder has not recorded yet (found upstream a moment ago) is asked for here too.
        if (recorded !== undefined) return recorded;
      }
      return watch.poller.get();
    });
    await watch.inflight;
  }

  /** Records one update (the job as `fetch` gives it, or its failure), passes it on, and picks the next source. */
  private async record(jobId: string, watch: Watch, fetch: () => Promise<Job>): Promise<void> {
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
      this.batch.schedule();
      return;
    }
    watch.poller.later(() => void this.poll(jobId, watch));
  }

  private batching(): boolean {
    const from = this.schedule.batchFrom;
    return from !== undefined && this.watches.size >= from;
  }

  /** One round of the batch poller: the list settles the jobs it shows running; each other job gets its own GET. */
  private async batchRound(): Promise<void> {
    let members = [...this.watches].filter(([, watch]) => watch.batched && !watch.polling);
    if (members.length === 0) return;
    if (!this.batching()) {
      for (const [jobId, watch] of members) void this.poll(jobId, watch);
      return;
    }
    if (this.follower !== undefined) {
      // Leases are renewed with each poll, the batched ones too; a job whose lease was lost is followed on its own.
      const held = await this.follower.holdAll(members.map(([jobId]) => jobId));
      for (const [i, [jobId, watch]] of members.entries()) {
        watch.held = held[i] ?? true;
        if (!watch.held) void this.poll(jobId, watch);
      }
      members = members.filter(([, watch]) => watch.held);
    }
    const listed = await this.batch.list(members.map(([jobId]) => jobId));
    const recorded: Promise<void>[] = [];
    for (const [jobId, watch] of members) {
      if (this.watches.get(jobId) !== watch || !watch.batched || watch.polling) continue;
      const job = listed.get(jobId);
      if (job === undefined || TERMINAL_STATUSES.has(job.status)) void this.poll(jobId, watch);
      else recorded.push(this.record(jobId, watch, async () => job));
    }
    await Promise.all(recorded);
    // A job that joined while the list was being read found the batch running and could not schedule it: whatever
    // happened to this round's members (ended, or each on its own after a failed list), it is still waiting.
    if ([...this.watches.values()].some((watch) => watch.batched && !watch.polling)) this.batch.schedule();
  }
}
