/**
 * One request to Apiframe, with a timeout per attempt, the caller's AbortSignal, and retries that are safe: GETs, and
 * POSTs that carry an Idempotency-Key (so a repeat returns the original instead of doing the work twice). Backoff is
 * full-jitter exponential with a cap; a Retry-After header sets the wait instead.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type * as z from 'zod';
import {
  ApiframeError,
  CancelledError,
  NetworkError,
  ProtocolError,
  RateLimitError,
  SeedanceError,
  ServerError,
  TimeoutError,
} from '../core/errors.js';
import { log } from '../core/log.js';
import { sleep as abortableSleep } from '../core/sleep.js';
import { errorFromResponse } from './errors.js';

export interface HttpOptions {
  baseUrl: string;
  apiKey: string | undefined;
  /** Per attempt, covering the whole response body. */
  timeoutMs: number;
  /** Further attempts after the first. */
  maxRetries: number;
  retryBaseMs: number;
  retryCapMs: number;
  /** A Retry-After longer than this is not waited for: the error goes back to the agent with the wait in it. */
  maxRetryAfterMs: number;
  userAgent: string;
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  random?: () => number;
}

/** As Apiframe's own SDK: full jitter from 250 ms, capped at 8 s. */
export const BACKOFF = {
  retryBaseMs: 250,
  retryCapMs: 8_000,
  maxRetryAfterMs: 30_000,
} as const;

export interface StreamBody {
  /**
   * Writes the body, once per attempt (a retry writes it again). `write` resolves once the chunk is handed to the
   * socket, so the caller may then reuse its buffer: a large file goes out through a few fixed buffers instead of
   * leaving every chunk for the garbage collector (50 MB of them, for a video, before it runs).
   */
  pump: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>;
  contentType: string;
  length: number;
}

interface Answer {
  status: number;
  ok: boolean;
  headers: Headers;
  /** undefined when the body passed MAX_RESPONSE_BYTES and was cut off. */
  text: string | undefined;
}

export interface RequestSpec<T> {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  stream?: StreamBody;
  idempotencyKey?: string;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  schema: z.ZodType<T>;
}

/** A successful answer, its body read through the request's schema. */
export interface ApiResponse<T> {
  status: number;
  data: T;
  attempts: number;
}

export class HttpClient {
  readonly options: HttpOptions;

  constructor(options: HttpOptions) {
    this.options = options;
  }

  async request<T>(spec: RequestSpec<T>): Promise<ApiResponse<T>> {
    const operation = `${spec.method} ${spec.path.replace(/\?.*$/, '')}`;
    const retrySafe = spec.method === 'GET' || spec.idempotencyKey !== undefined;
    const sleep = this.options.sleep ?? abortableSleep;
    for (let attempt = 0; ; attempt++) {
      try {
        const data = await this.attempt(spec, operation);
        return { status: data.status, data: data.body, attempts: attempt + 1 };
      } catch (error) {
        if (spec.signal?.aborted) throw new CancelledError(operation);
        if (!(error instanceof ApiframeError) || !retrySafe || !isTransient(error)) throw error;
        if (attempt >= this.options.maxRetries) throw error;
        const wait = this.backoff(attempt, error);
        if (wait === undefined) throw error;
        log.debug('retrying upstream call', {
          operation,
          attempt: attempt + 1,
          code: error.code,
          waitMs: wait,
        });
        try {
          await sleep(wait, spec.signal);
        } catch {
          throw new CancelledError(operation);
        }
      }
    }
  }

  /** Milliseconds before the next attempt, or undefined when the server asks for a longer wait than allowed. */
  private backoff(attempt: number, error: ApiframeError): number | undefined {
    if (error instanceof RateLimitError && error.retryAfterMs !== undefined) {
      return error.retryAfterMs <= this.options.maxRetryAfterMs ? error.retryAfterMs : undefined;
    }
    const ceiling = Math.min(this.options.retryCapMs, this.options.retryBaseMs * 2 ** attempt);
    return Math.floor((this.options.random ?? Math.random)() * ceiling);
  }

  private async attempt<T>(spec: RequestSpec<T>, operation: string): Promise<{ status: number; body: T }> {
    const url = new URL(spec.path, this.options.baseUrl);
    for (const [key, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.options.userAgent,
    };
    if (this.options.apiKey !== undefined) headers['x-api-key'] = this.options.apiKey;
    if (spec.idempotencyKey !== undefined) headers['idempotency-key'] = headerSafeKey(spec.idempotencyKey);
    let body: string | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    } else if (spec.stream !== undefined) {
      headers['content-type'] = spec.stream.contentType;
      headers['content-length'] = String(spec.stream.length);
    }
    const timeoutMs = spec.timeoutMs ?? this.options.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = spec.signal === undefined ? timeout : AbortSignal.any([spec.signal, timeout]);
    const mayHaveActed = spec.method === 'POST';
    const ctx = { operation };
    let response: Answer;
    let text: string | undefined;
    try {
      if (spec.stream !== undefined) {
        response = await sendStreamed(url, spec.method, headers, spec.stream, signal);
      } else {
        const fetched = await fetch(url, {
          method: spec.method,
          headers,
          signal,
          redirect: 'error',
          ...(body === undefined ? {} : { body }),
        });
        response = {
          status: fetched.status,
          ok: fetched.ok,
          headers: fetched.headers,
          text: await readCapped(fetched, MAX_RESPONSE_BYTES),
        };
      }
      text = response.text;
    } catch (error) {
      if (spec.signal?.aborted) throw new CancelledError(operation);
      if (timeout.aborted) throw new TimeoutError(ctx, timeoutMs, mayHaveActed);
      const own = ownErrorIn(error);
      if (own !== undefined) throw own;
      throw new NetworkError(ctx, error, mayHaveActed);
    }
    if (text === undefined) {
      const tooLarge = `the response is larger than ${MAX_RESPONSE_BYTES / (1024 * 1024)} MB`;
      if (!response.ok) {
        throw errorFromResponse(
          { operation, mayHaveActed },
          response.status,
          { error: tooLarge },
          response.headers,
        );
      }
      throw new ProtocolError({ ...ctx, status: response.status }, tooLarge, mayHaveActed);
    }
    let parsed: unknown;
    let parseFailed = false;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parseFailed = true;
    }
    if (!response.ok) {
      throw errorFromResponse({ operation, mayHaveActed }, response.status, parsed, response.headers);
    }
    if (parseFailed) {
      throw new ProtocolError(
        { ...ctx, status: response.status },
        'the response body is not valid JSON',
        mayHaveActed,
      );
    }
    const checked = spec.schema.safeParse(parsed);
    if (!checked.success) {
      const where = checked.error.issues[0]?.path.map(String).join('.') || 'body';
      throw new ProtocolError(
        { ...ctx, status: response.status },
        `the response does not have the documented shape (at ${where})`,
        mayHaveActed,
      );
    }
    return { status: response.status, body: checked.data };
  }
}

/**
 * The Idempotency-Key header as sent: the key itself when it is visible ASCII, otherwise a digest of it. An agent's
 * key may hold anything (a newline, a NUL, an emoji) that fetch refuses in a header or silently trims; the digest is
 * the same on every retry and in every process, so a repeat still finds the original job.
 */
function headerSafeKey(key: string): string {
  return /^[\x21-\x7e]+$/.test(key)
    ? key
    : `seedance-mcp-sha256-${createHash('sha256').update(key).digest('hex')}`;
}

/**
 * One request whose body is written by `body.pump`, over node:http: unlike fetch, it says when each chunk has left
 * (the write callback), which is what lets the caller reuse its buffers. Redirects are not followed, as with fetch's
 * `redirect: 'error'`: a 3xx is an error answer like any other.
 */
function sendStreamed(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: StreamBody,
  signal: AbortSignal,
): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method, headers, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const answer = (text: string | undefined) => {
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, headers: headersOf(res.headers), text });
      };
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_RESPONSE_BYTES) {
          chunks.push(chunk);
          return;
        }
        chunks.length = 0;
        res.destroy();
        answer(undefined);
      });
      res.on('error', reject);
      res.on('end', () => answer(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    const write = (chunk: Uint8Array) =>
      new Promise<void>((done, fail) => {
        req.write(chunk, (error) => (error ? fail(error) : done()));
      });
    body.pump(write).then(
      () => req.end(),
      (error: unknown) => req.destroy(error instanceof Error ? error : new Error(String(error))),
    );
  });
}

/** No answer of Apiframe's comes near this; a body that does is cut off rather than held in memory. */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** The body as text, or undefined once it passes `max` bytes: an endless body must not fill the memory. */
async function readCapped(response: globalThis.Response, max: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max) {
    await response.body.cancel().catch(() => {});
    return undefined;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function headersOf(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

function isTransient(error: ApiframeError): boolean {
  return (
    error instanceof RateLimitError ||
    error instanceof ServerError ||
    error instanceof TimeoutError ||
    error instanceof NetworkError ||
    error instanceof ProtocolError
  );
}

/** A failure of ours (a file that shrank mid-upload, say) arrives wrapped in fetch's TypeError. */
function ownErrorIn(error: unknown): SeedanceError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current instanceof SeedanceError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
