/**
 * The per-job source: one job's own `GET /v2/jobs/{id}`, on a timer that starts quickly and backs off to the
 * schedule's cap. One per watched job; the feed decides when it is used (the batch poller serves the job otherwise).
 */
import type { ApiframeClient } from '../../apiframe/client.js';
import type { Job } from '../../apiframe/schemas.js';
import type { PollSchedule, UpstreamCounts } from './schedule.js';

export class JobPoller {
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;

  constructor(
    private readonly jobId: string,
    private readonly client: ApiframeClient,
    private readonly schedule: PollSchedule,
    private readonly counts: UpstreamCounts,
  ) {
    this.delayMs = schedule.firstMs;
  }

  /** The job as Apiframe has it now. */
  get(): Promise<Job> {
    this.counts.polls += 1;
    return this.client.getJob(this.jobId);
  }

  /** Calls `poll` after the current delay, which then grows by the schedule's factor up to its cap. */
  later(poll: () => void): void {
    this.timer = setTimeout(poll, this.delayMs);
    // The stdio transport keeps the process alive; a pending poll alone must not.
    this.timer.unref();
    this.delayMs = Math.min(this.schedule.capMs, Math.round(this.delayMs * this.schedule.factor));
  }

  cancel(): void {
    clearTimeout(this.timer);
  }
}
