/** Apiframe's v2 operations that seedance-mcp uses, over HttpClient. */
import { randomBytes, randomUUID } from 'node:crypto';
import { SeedanceError } from '../errors.js';
import { FileRejectedError, type LocalFile } from '../files/local.js';
import type { MediaKind, WireVideoRequest } from '../params.js';
import { HttpClient, type HttpOptions } from './http.js';
import {
  AssetCreatedSchema,
  AssetSchema,
  type Job,
  JobAcceptedSchema,
  JobListSchema,
  JobSchema,
  type JobStatus,
  type Me,
  MeSchema,
  normaliseJob,
  type Upload,
  UploadSchema,
} from './schemas.js';

export class MissingApiKeyError extends SeedanceError {
  constructor() {
    super('missing_api_key', 'APIFRAME_API_KEY is not set, so this server cannot reach Apiframe.', {
      recovery:
        'Set APIFRAME_API_KEY (an afk_... key from the Apiframe dashboard) in the "env" block of this MCP server\'s client configuration and restart it, or start the server with --simulate to try everything offline. estimate_cost works without a key.',
    });
  }
}

export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface KeyedCallOptions extends CallOptions {
  /** Reused on every retry, so a repeat returns the original instead of a duplicate. */
  idempotencyKey: string;
}

export interface JobListQuery {
  status?: JobStatus;
  model?: string;
  limit?: number;
  cursor?: string;
}

export type UploadSource = Pick<LocalFile, 'given' | 'handle' | 'size' | 'type'>;

export interface Asset {
  assetId: string;
  status: string | undefined;
  errorMsg: string | undefined;
  raw: Record<string, unknown>;
}

/** Bytes per read while streaming an upload: large enough for throughput, small enough to keep memory flat. */
const UPLOAD_CHUNK = 512 * 1024;
/** Slowest upload speed tolerated before the upload counts as timed out. */
const MIN_UPLOAD_BYTES_PER_MS = 100;

export class ApiframeClient {
  readonly http: HttpClient;

  constructor(options: HttpOptions) {
    this.http = new HttpClient(options);
  }

  get hasApiKey(): boolean {
    return this.http.options.apiKey !== undefined;
  }

  private requireKey(): void {
    if (!this.hasApiKey) throw new MissingApiKeyError();
  }

  async submitVideo(body: WireVideoRequest, options: KeyedCallOptions) {
    this.requireKey();
    const response = await this.http.request({
      method: 'POST',
      path: '/v2/videos/generate',
      json: body,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
      schema: JobAcceptedSchema,
    });
    return { jobId: response.data.jobId, status: response.data.status, attempts: response.attempts };
  }

  async getJob(id: string, options: CallOptions = {}): Promise<Job> {
    this.requireKey();
    const response = await this.http.request({
      method: 'GET',
      path: `/v2/jobs/${encodeURIComponent(id)}`,
      signal: options.signal,
      schema: JobSchema,
    });
    return normaliseJob(response.data);
  }

  async listJobs(query: JobListQuery = {}, options: CallOptions = {}) {
    this.requireKey();
    const response = await this.http.request({
      method: 'GET',
      path: '/v2/jobs',
      query: { status: query.status, model: query.model, limit: query.limit, cursor: query.cursor },
      signal: options.signal,
      schema: JobListSchema,
    });
    return {
      jobs: response.data.jobs.map(normaliseJob),
      nextCursor: response.data.nextCursor ?? null,
      hasMore: response.data.hasMore ?? false,
    };
  }

  async me(options: CallOptions = {}): Promise<Me> {
    this.requireKey();
    const response = await this.http.request({
      method: 'GET',
      path: '/v2/me',
      signal: options.signal,
      schema: MeSchema,
    });
    return response.data;
  }

  async createAsset(input: { url: string; type: MediaKind }, options: KeyedCallOptions): Promise<string> {
    this.requireKey();
    const response = await this.http.request({
      method: 'POST',
      path: '/v2/assets/create',
      json: input,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
      schema: AssetCreatedSchema,
    });
    return response.data.assetId;
  }

  async getAsset(assetId: string, options: CallOptions = {}): Promise<Asset> {
    this.requireKey();
    const response = await this.http.request({
      method: 'GET',
      path: `/v2/assets/${encodeURIComponent(assetId)}`,
      signal: options.signal,
      schema: AssetSchema,
    });
    const raw = response.data;
    return {
      assetId,
      status: raw.status,
      errorMsg: raw.errorMsg ?? undefined,
      raw,
    };
  }

  /**
   * Uploads an open, checked local file (see files/local.ts), streamed from disk in bounded chunks: a 50 MB video is
   * never held in memory.
   */
  async uploadFile(file: UploadSource, options: KeyedCallOptions): Promise<Upload> {
    this.requireKey();
    const boundary = `----seedance-${randomBytes(12).toString('hex')}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.${file.type.extension}"\r\n` +
        `Content-Type: ${file.type.contentType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const response = await this.http.request({
      method: 'POST',
      path: '/v2/uploads',
      stream: {
        open: () => multipartStream(file, head, tail),
        contentType: `multipart/form-data; boundary=${boundary}`,
        length: head.length + file.size + tail.length,
      },
      idempotencyKey: options.idempotencyKey,
      timeoutMs: this.http.options.timeoutMs + Math.ceil(file.size / MIN_UPLOAD_BYTES_PER_MS),
      signal: options.signal,
      schema: UploadSchema,
    });
    return response.data;
  }
}

export function newIdempotencyKey(): string {
  return `seedance-mcp-${randomUUID()}`;
}

function multipartStream(file: UploadSource, head: Buffer, tail: Buffer): ReadableStream<Uint8Array> {
  const { handle, size } = file;
  let position = 0;
  let stage: 'head' | 'body' | 'tail' | 'done' = 'head';
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (stage === 'head') {
          stage = size === 0 ? 'tail' : 'body';
          controller.enqueue(head);
          return;
        }
        if (stage === 'body') {
          const length = Math.min(UPLOAD_CHUNK, size - position);
          const chunk = Buffer.allocUnsafe(length);
          const { bytesRead } = await handle.read(chunk, 0, length, position);
          if (bytesRead === 0) {
            controller.error(
              new FileRejectedError(
                file.given,
                'the file shrank while it was being uploaded',
                'Wait until the file is complete, then call again.',
              ),
            );
            return;
          }
          position += bytesRead;
          if (position >= size) stage = 'tail';
          controller.enqueue(bytesRead === length ? chunk : chunk.subarray(0, bytesRead));
          return;
        }
        if (stage === 'tail') {
          stage = 'done';
          controller.enqueue(tail);
          return;
        }
        controller.close();
      },
    },
    { highWaterMark: 1 },
  );
}
