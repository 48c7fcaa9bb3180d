/**
 * The ledger source, when several hosts share a PostgreSQL ledger: one poller per job across all of them. A host
 * polls a job upstream only while it holds the job's lease (renewed with each poll); the others follow the job as the
 * ledger records it, looking again as soon as the ledger announces a change (LISTEN/NOTIFY), and take the lease over
 * when its holder stops renewing it.
 */
import type { Job } from '../../apiframe/schemas.js';
import type { JobLeases } from '../../ledger/types.js';

/** A ledger shared by several hosts: who polls which job, and each job as last recorded by whoever polled it. */
export interface SharedJobs {
  leases: JobLeases;
  recorded(jobId: string): Promise<Job | undefined>;
}

export class LedgerFollower {
  private readonly stopListening: () => void;

  constructor(
    private readonly shared: SharedJobs,
    /** Called with the job id whenever any host records a change to a job. */
    changed: (jobId: string) => void,
  ) {
    this.stopListening = shared.leases.onChange(changed);
  }

  /** Takes or renews this host's lease on the job: true when this host polls it upstream. */
  hold(jobId: string): Promise<boolean> {
    return this.shared.leases.hold(jobId);
  }

  /** The job as its lease holder last recorded it; undefined when not recorded yet. */
  recorded(jobId: string): Promise<Job | undefined> {
    return this.shared.recorded(jobId);
  }

  /** Renews the leases of jobs polled together; a lease whose check fails counts as held (the job is polled here). */
  holdAll(jobIds: readonly string[]): Promise<boolean[]> {
    return Promise.all(jobIds.map((jobId) => this.shared.leases.hold(jobId).catch(() => true)));
  }

  /** Nobody here follows the job any more: another host may take it over at once. */
  release(jobId: string): void {
    void this.shared.leases.release(jobId);
  }

  close(): void {
    this.stopListening();
  }
}
