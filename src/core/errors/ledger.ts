/**
 * What the spend ledger says when it cannot decide. In every case nothing was decided and nothing may be sent
 * upstream: the job service sends only what a committed reservation allows.
 */
import { SeedanceError } from './base.js';

/** The store cannot be used at all: a damaged or foreign database, a folder in its place, a read-only folder. */
export class LedgerUnavailableError extends SeedanceError {
  constructor(
    readonly problem: string,
    readonly fix: string,
    cause?: unknown,
  ) {
    super('ledger_unavailable', `The spend ledger cannot be used: ${problem}`, {
      recovery: `Nothing was submitted or charged. ${fix} Estimates (estimate_cost) still work meanwhile.`,
      details: { problem },
      cause,
    });
  }
}

/** A change could not be made durable (disk full, I/O error, a folder turned read-only): it was rolled back. */
export class LedgerWriteError extends SeedanceError {
  constructor(
    readonly problem: string,
    fix: string,
    cause?: unknown,
  ) {
    super('ledger_write_failed', `The spend ledger could not record this: ${problem}`, {
      recovery: `Nothing was submitted or charged. ${fix}`,
      details: { problem },
      cause,
    });
  }
}

/** Other processes held the ledger longer than the busy timeout: nothing was decided. */
export class LedgerBusyError extends SeedanceError {
  constructor(waitedMs: number, cause?: unknown) {
    super(
      'ledger_busy',
      `The spend ledger was held by other seedance-mcp processes for over ${waitedMs / 1000} s.`,
      {
        recovery:
          'Nothing was submitted or charged. Call again shortly; if it persists, a process may hang: restart the MCP client.',
        cause,
      },
    );
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

/**
 * A value that must never be written (a negative, fractional or non-numeric amount): a programming error, since
 * amounts from outside are validated where they enter, so it is reported as internal.
 */
export class LedgerValueError extends Error {}
