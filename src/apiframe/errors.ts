/** Apiframe failures as typed errors, made by one factory from the status and body of a response. */
import { SeedanceError } from '../core/errors.js';
import { sanitize } from '../core/redact.js';

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
    code: string,
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
      listed ? `${message} (${quoted(listed, 1_000)})` : message,
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
        ? 'Apiframe failed after the request may have been processed. Call the same tool again with the same arguments: the idempotency key makes it find the original job instead of paying twice.'
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
        ? 'The request may have been processed. Call the same tool again with the same arguments: the idempotency key makes it find the original job instead of paying twice.'
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
        ? 'The request may have reached Apiframe. Call the same tool again with the same arguments: the idempotency key makes it find the original job instead of paying twice.'
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
        ? 'Apiframe answered with an unreadable body after the request may have been processed. Call the same tool again with the same arguments; the idempotency key prevents a second charge.'
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

export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Upstream words as the agent sees them: sanitised, short, and in quotes it cannot close, so that a body saying
 * "What to do: ..." reads as what Apiframe said, not as this server's advice.
 */
export function quoted(text: string, maxLength = 200): string {
  return `“${sanitize(text, maxLength).replace(/[“”]/g, '"')}”`;
}

/** Apiframe's own error text, attributed to it; `fallback` (the server's words) when it gave none. */
function messageOf(body: unknown, fallback: string): string {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === 'string' && error.trim() !== '' ? `Apiframe said ${quoted(error)}` : fallback;
}

/** At most this many fields, and messages per field, are reported from an upstream validation error. */
const MAX_FIELD_ERRORS = 10;
const MAX_MESSAGES_PER_FIELD = 3;

function fieldErrorsOf(body: unknown): Record<string, string[]> {
  const details = (body as { details?: unknown } | null)?.details;
  if (details === null || typeof details !== 'object') return {};
  const out: Record<string, string[]> = {};
  for (const [path, messages] of Object.entries(details).slice(0, MAX_FIELD_ERRORS)) {
    const list = Array.isArray(messages) ? messages : [messages];
    out[sanitize(path, 80)] = list.slice(0, MAX_MESSAGES_PER_FIELD).map((m) => sanitize(String(m), 120));
  }
  return out;
}

function numberOf(body: unknown, key: string): number | undefined {
  const value = (body as Record<string, unknown> | null)?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * The one status-to-class factory. `body` is the parsed JSON (or undefined when it was not JSON); nothing of it
 * reaches a message except sanitised strings.
 */
export function errorFromResponse(
  context: { operation: string; mayHaveActed: boolean },
  status: number,
  body: unknown,
  headers: Headers,
): ApiframeError {
  const ctx: UpstreamContext = { operation: context.operation, status };
  if (status === 400 || status === 422) {
    return new UpstreamValidationError(ctx, messageOf(body, 'invalid request'), fieldErrorsOf(body));
  }
  if (status === 401 || status === 403)
    return new AuthenticationError(ctx, messageOf(body, 'not authorised'));
  if (status === 402) {
    return new InsufficientCreditsError(
      ctx,
      numberOf(body, 'creditsRequired'),
      numberOf(body, 'creditsAvailable'),
    );
  }
  if (status === 404) return new NotFoundError(ctx, messageOf(body, 'not found'));
  if (status === 409) return new ConflictError(ctx, messageOf(body, 'conflict'));
  if (status === 429) {
    return new RateLimitError(
      ctx,
      messageOf(body, 'rate limited'),
      parseRetryAfter(headers.get('retry-after')),
    );
  }
  if (status < 500) {
    return new ApiframeError(
      'upstream_rejected',
      ctx,
      `HTTP ${status}: ${messageOf(body, 'request refused')}`,
      'Apiframe refused the request; nothing was charged. Report the message to the user.',
    );
  }
  // 500 and 502 may come after the request was acted on; 503 and 504 normally before, but a gateway cannot promise it.
  return new ServerError(ctx, `HTTP ${status}: ${messageOf(body, 'server error')}`, context.mayHaveActed);
}
