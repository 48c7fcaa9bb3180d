/** How a call ended other than by its own logic: the client cancelled it, or something unforeseen failed. */
import { sanitize } from '../redact.js';
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

/** A failure nobody foresaw while following a job: the job itself is recorded and safe. */
export class UnexpectedError extends SeedanceError {
  constructor(message: string, recovery: string, cause: unknown) {
    super('internal', message, { recovery, cause });
  }
}

/**
 * The server stopped (stdin closed, SIGTERM, an HTTP drain) while a call waited, not the client. Nothing is lost: the
 * job, or the submission whose POST is still unanswered, is recorded and the next start resumes it by itself.
 */
export class ShuttingDownError extends SeedanceError {
  constructor(waitingFor: { jobId: string } | { idempotencyKey: string } | { stopped: CancelledError }) {
    if ('stopped' in waitingFor) {
      super('shutting_down', 'The server is shutting down and stopped waiting.', {
        recovery: waitingFor.stopped.recovery,
        details: waitingFor.stopped.details,
      });
    } else if ('jobId' in waitingFor) {
      const { jobId } = waitingFor;
      super(
        'shutting_down',
        `The server is shutting down; video job ${jobId} was submitted, is recorded and keeps rendering.`,
        {
          recovery: `Call get_video with job_id "${jobId}" once the server runs again (it also finishes and saves the job by itself on start); do not call generate_video again.`,
          details: { jobId },
        },
      );
    } else {
      super(
        'shutting_down',
        `The server is shutting down and Apiframe has not yet answered the submission (idempotency key "${sanitize(waitingFor.idempotencyKey, 80)}").`,
        {
          recovery:
            'Nothing is lost and nothing will be paid twice: the submission is recorded, and the server resumes it by itself when it starts again. Then call generate_video again with the same arguments (it finds the same job) or list_videos to see it.',
          details: { idempotencyKey: waitingFor.idempotencyKey },
        },
      );
    }
  }
}
