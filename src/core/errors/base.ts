/**
 * Every failure the product can explain is a SeedanceError: a `code` from ERROR_CODES, a message that says what went
 * wrong, and `recovery`, which says what the agent should do next. The server's one error boundary (mcp/server.ts)
 * turns these into `isError` results; anything else is reported as an internal error.
 */

/** Every code an agent can meet, in `Error (code): ...`; callers compare classes with `instanceof`, not codes. */
export const ERROR_CODES = [
  // arguments.ts
  'invalid_arguments',
  'unknown_tool',
  // setup.ts
  'config_error',
  'missing_api_key',
  'config_file',
  'usage',
  // files.ts
  'file_rejected',
  'path_not_allowed',
  'url_not_allowed',
  // calls.ts
  'cancelled',
  'shutting_down',
  'internal',
  // upstream.ts
  'upstream_validation',
  'authentication',
  'insufficient_credits',
  'not_found',
  'conflict',
  'rate_limited',
  'upstream_unavailable',
  'upstream_timeout',
  'network',
  'upstream_protocol',
  'upstream_rejected',
  // spending.ts
  'over_budget',
  'over_max_credits',
  'unknown_price',
  'idempotency_conflict',
  // jobs.ts
  'download_failed',
  // assets.ts
  'asset_failed',
  'asset_not_ready',
  'unknown_media_type',
  // ledger.ts
  'ledger_unavailable',
  'ledger_write_failed',
  'ledger_busy',
  'unknown_record',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The advice after a failure that may have come after Apiframe acted on a request: written once, for every error
 * whose outcome is unknown.
 */
export const SAME_CALL_AGAIN =
  'Call the same tool again with the same arguments: the idempotency key makes it find the original job instead of paying twice.';

export interface ErrorInit {
  recovery: string;
  /**
   * Facts a client program may act on (field names, credit figures, a job id). The error boundary delivers them,
   * with the code, in the result's `_meta["seedance-mcp/error"]`; the model reads the message and the recovery.
   */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class SeedanceError extends Error {
  readonly code: ErrorCode;
  readonly recovery: string;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, init: ErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = code;
    this.recovery = init.recovery;
    this.details = init.details ?? {};
  }
}
