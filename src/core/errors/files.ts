/** Local files that cannot be used. */
import { SeedanceError } from './base.js';

/** A local file that cannot be used: unreadable, of a type Apiframe refuses, too large, changing under us. */
export class FileRejectedError extends SeedanceError {
  constructor(path: string, message: string, recovery: string) {
    super('file_rejected', `${path}: ${message}`, { recovery, details: { path } });
  }
}

/** A local file outside the folders the server may read; `widen` says which setting would allow it. */
export class PathNotAllowedError extends SeedanceError {
  constructor(path: string, allowed: readonly string[], why: string, widen: string) {
    super('path_not_allowed', `${path}: ${why}`, {
      recovery: `Only files inside these folders can be read: ${allowed.join(', ')}. Move or copy the file there (not into a hidden folder), or ${widen}`,
      details: { path, allowedDirs: allowed },
    });
  }
}
