/** Apiframe failures, one class per kind; apiframe/errors.ts makes them from a response's status and body. */
import { sanitize } from '../redact.js';
import { type ErrorCode, SAME_CALL_AGAIN, SeedanceError } from './base.js';

export interface UpstreamContext {
  /** "POST /v2/videos/generate": what was being done, for the message. */
  operation: string;
  status?: number;
}

export class ApiframeError extends SeedanceError {
  readonly operation: string;
  readonly status: number | undefined;
  /** Whether Apiframe may have acted on the request although no answer said so (the job may exist). */
  readonly outcomeUnknown: boolean;

  constructor(
    code: ErrorCode,
    context: UpstreamContext,
    message: string,
    recovery: string,
    options: { details?: Record<string, unknown>; cause?: unknown; outcomeUnknown?: boolean } = {},
  ) {
    super(code, `${context.operation}: ${message}`, {
      recovery,
      details: { ...(context.status === undefined ? {} : { status: context.status }), ...options.details },
      cause: options.cause,
    });
    this.operation = context.operation;
    this.status = context.status;
    this.outcomeUnknown = options.outcomeUnknown ?? false;
  }
}

export class UpstreamValidationError extends ApiframeError {
  readonly fieldErrors: Record<string, string[]>;
  constructor(context: UpstreamContext, message: string, fieldErrors: Record<string, string[]>) {
    const listed = sanitize(
      Object.entries(fieldErrors)
        .map(([path, messages]) => `${path}: ${messages.join(', ')}`)
        .join('; '),
      1_000,
    );
    super(
      'upstream_validation',
      context,
      listed ? `${message} (${listed})` : message,
      'Apiframe rejected the request; correct the named fields and call again. Nothing was charged.',
      { details: { fieldErrors } },
    );
    this.fieldErrors = fieldErrors;
  }
}

export class AuthenticationError extends ApiframeError {
  constructor(context: UpstreamContext, message: string) {
    super(
      'authentication',
      context,
      message,
      'Check APIFRAME_API_KEY in the server environment: it must be an active key (afk_...) from the Apiframe dashboard. Ask the user; retrying will not help.',
    );
  }
}

export class InsufficientCreditsError extends ApiframeError {
  readonly creditsRequired: number | undefined;
  readonly creditsAvailable: number | undefined;
  constructor(context: UpstreamContext, required: number | undefined, available: number | undefined) {
    const figures =
      required === undefined ? '' : ` (required ${required}, available ${available ?? 'unknown'})`;
    super(
      'insufficient_credits',
      context,
      `the Apiframe account has too few credits${figures}`,
      'Nothing was charged. Ask the user to top up the Apiframe account, or call estimate_cost for a cheaper variant (lower resolution, shorter, no reference video).',
      { details: { creditsRequired: required, creditsAvailable: available } },
    );
    this.creditsRequired = required;
    this.creditsAvailable = available;
  }
}

export class NotFoundError extends ApiframeError {
  constructor(context: UpstreamContext, message: string) {
    super(
      'not_found',
      context,
      message,
      'Check the id: it must come from this Apiframe account (list_videos shows the jobs this server knows).',
    );
  }
}

export class ConflictError extends ApiframeError {
  constructor(context: UpstreamContext, message: string) {
    super(
      'conflict',
      context,
      message,
      'The idempotency key was already used for a different request. Use a new idempotency_key, or repeat the original request exactly.',
    );
  }
}

export class RateLimitError extends ApiframeError {
  readonly retryAfterMs: number | undefined;
  constructor(context: UpstreamContext, message: string, retryAfterMs: number | undefined) {
    const wait = retryAfterMs === undefined ? 'a little' : `${Math.ceil(retryAfterMs / 1000)} s`;
    super(
      'rate_limited',
      context,
      `${message} (retry after ${wait})`,
      `Apiframe is rate limiting this account; wait ${wait} and call again. Nothing was charged for the refused request.`,
      { details: { retryAfterSeconds: retryAfterMs === undefined ? undefined : retryAfterMs / 1000 } },
    );
    this.retryAfterMs = retryAfterMs;
  }
}

export class ServerError extends ApiframeError {
  constructor(context: UpstreamContext, message: string, outcomeUnknown: boolean) {
    super(
      'upstream_unavailable',
      context,
      message,
      outcomeUnknown
        ? `Apiframe failed after the request may have been processed. ${SAME_CALL_AGAIN}`
        : 'Apiframe is failing; wait a minute and call again.',
      { outcomeUnknown },
    );
  }
}

export class TimeoutError extends ApiframeError {
  constructor(context: UpstreamContext, timeoutMs: number, outcomeUnknown: boolean) {
    super(
      'upstream_timeout',
      context,
      `no answer within ${timeoutMs} ms`,
      outcomeUnknown
        ? `The request may have been processed. ${SAME_CALL_AGAIN}`
        : 'Apiframe is slow; call again in a minute.',
      { outcomeUnknown, details: { timeoutMs } },
    );
  }
}

export class NetworkError extends ApiframeError {
  constructor(context: UpstreamContext, cause: unknown, outcomeUnknown: boolean) {
    const reason = cause instanceof Error ? describeNetworkCause(cause) : 'connection failed';
    super(
      'network',
      context,
      `network error: ${reason}`,
      outcomeUnknown
        ? `The request may have reached Apiframe. ${SAME_CALL_AGAIN}`
        : 'Check the network connection and APIFRAME_BASE_URL, then call again.',
      { outcomeUnknown, cause },
    );
  }
}

/** A body that is not JSON, cut short, or not the shape the spec promises. */
export class ProtocolError extends ApiframeError {
  constructor(context: UpstreamContext, message: string, outcomeUnknown: boolean) {
    super(
      'upstream_protocol',
      context,
      message,
      outcomeUnknown
        ? `Apiframe answered with an unreadable body after the request may have been processed. ${SAME_CALL_AGAIN}`
        : 'Apiframe answered with an unreadable body; call again in a moment.',
      { outcomeUnknown },
    );
  }
}

function describeNetworkCause(error: Error): string {
  const nested = (error as { cause?: unknown }).cause;
  const code = (nested as { code?: unknown } | undefined)?.code ?? (error as { code?: unknown }).code;
  const text = nested instanceof Error ? nested.message : error.message;
  return sanitize(typeof code === 'string' ? `${code} ${text}` : text, 160);
}
