/**
 * Every failure the product can explain is a SeedanceError: a stable `code`, a message that says what went wrong,
 * and `recovery`, which says what the agent should do next. The server's one error boundary turns these into
 * `isError` results; anything else is reported as an internal error.
 */
export interface ErrorInit {
  recovery: string;
  /** Facts an agent may act on (field names, credit figures, a job id); put into the result's structured content. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class SeedanceError extends Error {
  readonly code: string;
  readonly recovery: string;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, init: ErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = code;
    this.recovery = init.recovery;
    this.details = init.details ?? {};
  }
}

/** One argument that fails the parameter model: the field as an agent writes it, and what is wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** Arguments that fail the parameter model: named per field, never sent upstream. */
export class InvalidArgumentsError extends SeedanceError {
  readonly issues: FieldIssue[];

  constructor(
    issues: FieldIssue[],
    recovery = 'Correct the named fields and call again; nothing was submitted.',
  ) {
    const list = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
    super('invalid_arguments', `Invalid arguments: ${list}`, { recovery, details: { issues } });
    this.issues = issues;
  }
}

/** A page cursor this server never handed out: the ledger says so, the advice is the paging contract's. */
export class InvalidCursorError extends InvalidArgumentsError {
  constructor() {
    super(
      [{ field: 'cursor', message: 'not a cursor this server returned' }],
      'Pass next_cursor from the previous page exactly, or leave cursor out for the first page.',
    );
  }
}

export class ConfigError extends SeedanceError {
  constructor(variable: string, message: string) {
    super('config_error', `${variable}: ${message}`, {
      recovery: `Fix ${variable} in the server's environment (the "env" block of the MCP client configuration) and restart the server.`,
      details: { variable },
    });
  }
}

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

/** The client cancelled the request: waiting stops; a job already submitted runs on. */
export class CancelledError extends SeedanceError {
  constructor(what: string) {
    super('cancelled', `${what}: cancelled by the client`, {
      recovery: 'Nothing more was done. A job already submitted keeps running: get_video finds it.',
    });
  }
}

/** Waits `ms`, or throws CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, what = 'waiting'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError(what));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError(what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
