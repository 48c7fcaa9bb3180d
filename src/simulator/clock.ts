/** The job and asset clock: where a job or asset stands at a given time, and the refunds its failure earns. */
import type { JobStatus } from '../apiframe/schemas.js';
import type { SimAsset, SimJob, SimState } from './state.js';

export function jobStatus(
  job: SimJob,
  now: number,
): { status: JobStatus; progress: number; completedAt: number | null } {
  if (job.forced !== undefined) {
    const { status, at } = job.forced;
    return status === 'PROCESSING'
      ? { status, progress: 50, completedAt: null }
      : { status, progress: status === 'COMPLETED' ? 100 : 0, completedAt: at };
  }
  const elapsed = now - job.createdAt;
  if (elapsed < job.queuedMs) return { status: 'QUEUED', progress: 0, completedAt: null };
  if (elapsed < job.queuedMs + job.processingMs) {
    const progress = Math.min(99, Math.floor((100 * (elapsed - job.queuedMs)) / job.processingMs));
    return { status: 'PROCESSING', progress, completedAt: null };
  }
  const completedAt = job.createdAt + job.queuedMs + job.processingMs;
  return job.willFail
    ? { status: 'FAILED', progress: 0, completedAt }
    : { status: 'COMPLETED', progress: 100, completedAt };
}

/** FAILED jobs are refunded in full, once, whether or not anybody has looked at them. */
export function settleRefunds(state: SimState): void {
  for (const job of state.jobs.values()) {
    if (!job.refunded && jobStatus(job, state.now()).status === 'FAILED') {
      job.refunded = true;
      state.credits += job.price;
    }
  }
}

export function assetStatus(state: SimState, asset: SimAsset): 'Processing' | 'Active' | 'Failed' {
  if (state.now() - asset.createdAt < state.assetProcessingMs) return 'Processing';
  return asset.willFail ? 'Failed' : 'Active';
}
