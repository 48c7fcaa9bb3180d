/**
 * What the ledger says when it cannot decide. Each is a SeedanceError, so the agent hears what is wrong and what to
 * do; in every case nothing was decided and nothing may be sent upstream (the job service sends only what a
 * committed reservation allows).
 */
import { SeedanceError } from '../core/errors.js';

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

/** A programming error: a job or key this ledger never recorded. */
export class UnknownRecordError extends Error {}

/** A value that must never be written: a negative, fractional or non-numeric amount, for one. */
export class LedgerValueError extends Error {}
