/**
 * The batch source: with many jobs in flight, one `GET /v2/jobs` every capMs serves all of them instead of one
 * `GET /v2/jobs/{id}` each, so upstream requests stay flat however many jobs there are. It only reads the list; the
 * feed decides which jobs the list settles (the list carries neither a job's input nor, in every version of the docs,
 * its result, so a job it does not show, or shows ended, gets its own GET).
 */
import type { ApiframeClient } from '../../apiframe/client.js';
import type { Job } from '../../apiframe/schemas.js';
import { log } from '../../core/log.js';
import type { UpstreamCounts } from './schedule.js';

/** Apiframe's largest page of the job list. */
const LIST_PAGE = 100;
/** Pages of the job list read per batched poll, at most; jobs further back get their own GET. */
const LIST_PAGES = 3;

export class BatchPoller {
  private timer: NodeJS.Timeout | undefined;
  private listing = false;

  constructor(
    private readonly client: ApiframeClient,
    private readonly intervalMs: number,
    private readonly counts: UpstreamCounts,
    /** One round: called when the timer fires. */
    private readonly round: () => Promise<void>,
  ) {}

  /** Makes sure a round comes in intervalMs (unless one is due or reading the list now). */
  schedule(): void {
    if (this.timer !== undefined || this.listing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * The jobs of the list's first pages, read until every one of `jobIds` is seen; what was read before a failure
   * (each job missing from it then asks for itself, its own GET reporting failures as usual).
   */
  async list(jobIds: readonly string[]): Promise<Map<string, Job>> {
    this.listing = true;
    const listed = new Map<string, Job>();
    try {
      let cursor: string | undefined;
      for (let page = 0; page < LIST_PAGES; page++) {
        this.counts.polls += 1;
        this.counts.listPolls += 1;
        // No model filter: the jobs followed may be of any model of the family.
        const answer = await this.client.listJobs({
          limit: LIST_PAGE,
          ...(cursor === undefined ? {} : { cursor }),
        });
        for (const job of answer.jobs) listed.set(job.id, job);
        if (jobIds.every((jobId) => listed.has(jobId)) || !answer.hasMore || answer.nextCursor === null)
          break;
        cursor = answer.nextCursor;
      }
    } catch (error) {
      log.debug('job list poll failed; polling the jobs one by one', { error: String(error) });
    } finally {
      this.listing = false;
    }
    return listed;
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
