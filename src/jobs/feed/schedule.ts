/** How often the feed's pollers ask Apiframe about a job, and from how many jobs they ask through the job list. */

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

/** Upstream requests the feed's sources made, for benchmarks and tests. */
export interface UpstreamCounts {
  /** Job polls (job list pages included). */
  polls: number;
  /** Of which job list pages. */
  listPolls: number;
}
