/** A finished job whose files could not be saved: the job itself is safe and can be fetched again. */
import { SeedanceError } from './base.js';

export class DownloadError extends SeedanceError {
  constructor(message: string, recovery: string, details: Record<string, unknown> = {}) {
    super('download_failed', message, { recovery, details });
  }
}
