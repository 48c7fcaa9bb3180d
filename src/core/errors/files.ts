/** Local files that cannot be used. */
import { SeedanceError } from './base.js';

/** A local file that cannot be used: unreadable, of a type Apiframe refuses, too large, changing under us. */
export class FileRejectedError extends SeedanceError {
  constructor(path: string, message: string, recovery: string) {
    super('file_rejected', `${path}: ${message}`, { recovery, details: { path } });
  }
}

/** A local file outside the folders the server may read. */
export class PathNotAllowedError extends SeedanceError {
  constructor(path: string, allowed: readonly string[], why: string) {
    super('path_not_allowed', `${path}: ${why}`, {
      recovery: `Only files inside these folders can be read: ${allowed.join(', ')}. Move or copy the file there (not into a hidden folder), or ask the user to add its folder to SEEDANCE_ALLOWED_DIRS (or to the client's roots).`,
      details: { path, allowedDirs: allowed },
    });
  }
}

/** HTTP mode: a member-given URL whose host is not public (server-side request forgery), never fetched. */
export class BlockedUrlError extends SeedanceError {
  constructor(host: string, allowSetting: string) {
    super(
      'url_not_allowed',
      `${host} resolves to a private, loopback or link-local address; this server does not fetch it.`,
      {
        recovery: `Give a public http(s) URL (or an asset:// URI). If the host is meant to be reachable, the server's operator can list it in ${allowSetting}.`,
        details: { host },
      },
    );
  }
}
