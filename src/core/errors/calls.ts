/** How a call ended other than by its own logic: the client cancelled it, or something unforeseen failed. */
import { SeedanceError } from './base.js';

/** The client cancelled the request: waiting stops; a job already submitted runs on. */
export class CancelledError extends SeedanceError {
  /** `jobId`: the job being waited for, which keeps running. */
  constructor(what: string, jobId?: string) {
    if (jobId === undefined) {
      super('cancelled', `${what}: cancelled by the client`, {
        recovery: 'Nothing more was done. A job already submitted keeps running: get_video finds it.',
      });
    } else {
      super('cancelled', `${what} was cancelled by the client; the job keeps running.`, {
        recovery: `Call get_video with job_id ${jobId} to see it later.`,
        details: { jobId },
      });
    }
  }
}

/** The server stopped a wait to shut down (HTTP drain), not the client: the job goes on, the ledger keeps it. */
export class ShuttingDownError extends SeedanceError {
  constructor(stopped: CancelledError) {
    super('server_shutting_down', 'The server is shutting down and stopped waiting.', {
      recovery: stopped.recovery,
      details: stopped.details,
    });
  }
}

/** A failure nobody foresaw while following a job: the job itself is recorded and safe. */
export class UnexpectedError extends SeedanceError {
  constructor(message: string, recovery: string, cause: unknown) {
    super('internal', message, { recovery, cause });
  }
}
