/** The spend ledger cannot answer: nothing was spent on its account. */
import { SeedanceError } from './base.js';

/** The ledger could not be reached or locked in time (another process holds it, the disk is slow). */
export class LedgerUnavailableError extends SeedanceError {
  constructor(message: string, cause?: unknown) {
    super('ledger_unavailable', `The spend ledger is unavailable: ${message}`, {
      recovery:
        'Nothing was spent by this call. Wait a few seconds and call again; if it persists, another seedance-mcp process may be stuck: ask the user to check SEEDANCE_STATE_DIR.',
      cause,
    });
  }
}

/** The ledger has no record the operation needs: a job id it was never told about, or one removed under it. */
export class UnknownRecordError extends SeedanceError {
  constructor(what: string) {
    super('unknown_record', `The spend ledger has no record of ${what}.`, {
      recovery:
        'Call list_videos to see the jobs this server knows, or get_video with the job_id to record it.',
    });
  }
}
