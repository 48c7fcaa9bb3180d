/** Apiframe failures as typed errors (core/errors/upstream.ts), made by one factory from a response's status and body. */
import {
  ApiframeError,
  AuthenticationError,
  ConflictError,
  InsufficientCreditsError,
  NotFoundError,
  RateLimitError,
  ServerError,
  type UpstreamContext,
  UpstreamValidationError,
} from '../core/errors.js';
import { quoted, sanitize } from '../core/redact.js';

function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
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
