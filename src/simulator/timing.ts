/**
 * What a simulated Apiframe starts with and how long its work takes, unless told otherwise: one definition for the
 * Simulator class, `seedance-mcp simulate` and `--simulate` (SEEDANCE_SIMULATED_JOB_SECONDS).
 */
export const SIMULATED = {
  /** Starting credit balance of the simulated team. */
  credits: 100_000,
  /** Time a video takes from submission to completion, its time in the queue included. */
  jobSeconds: 10,
  /** Time an uploaded asset spends Processing before it is Active. */
  assetSeconds: 1,
} as const;

export interface SimulatedTiming {
  queuedMs: number;
  processingMs: number;
  assetProcessingMs: number;
}

/**
 * A job's time split between QUEUED (a tenth, 2 s at most) and PROCESSING; an asset never takes longer than a video,
 * so that a job time of 0 makes everything instant.
 */
export function simulatedTiming(
  jobSeconds: number = SIMULATED.jobSeconds,
  assetSeconds: number = Math.min(SIMULATED.assetSeconds, jobSeconds),
): SimulatedTiming {
  const jobMs = jobSeconds * 1000;
  const queuedMs = Math.min(2_000, Math.floor(jobMs / 10));
  return { queuedMs, processingMs: jobMs - queuedMs, assetProcessingMs: assetSeconds * 1000 };
}
