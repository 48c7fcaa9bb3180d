/** Apiframe's v2 operations that seedance-mcp uses, over HttpClient. */
import { randomBytes, randomUUID } from 'node:crypto';
import type { promises as fs } from 'node:fs';
import { FileRejectedError, MissingApiKeyError } from '../core/errors.js';
import type { MediaType } from '../domain/media.js';
import type { MediaKind, WireVideoRequest } from '../domain/params.js';
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
  type ModelCatalog,
  ModelCatalogSchema,
  normaliseJob,
  type Upload,
  UploadSchema,
} from './schemas.js';

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

/** An open local file to upload, already checked (inputs/local-files.ts opens and checks them). */
export interface UploadSource {
  /** The path as the agent gave it, for messages. */
  given: string;
  handle: fs.FileHandle;
  size: number;
  type: MediaType;
}

export interface Asset {
  assetId: string;
  status: string | undefined;
  errorMsg: string | undefined;
  raw: Record<string, unknown>;
}

/** Bytes per read while streaming an upload: large enough for throughput; two such buffers are all it holds. */
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

  /** Apiframe's video models and their cost ranges: public, so it works without a key. */
  async videoModels(options: CallOptions = {}): Promise<ModelCatalog> {
    const response = await this.http.request({
      method: 'GET',
      path: '/v2/models',
      query: { modality: 'video' },
      signal: options.signal,
      schema: ModelCatalogSchema,
    });
    return response.data;
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
   * Uploads an open, checked local file (see inputs/local-files.ts), streamed from disk in bounded chunks: a 50 MB video is
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
        pump: (write) => pumpMultipart(file, head, tail, write),
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

/**
 * The multipart body, read from the open file through two buffers: one is read into while the other is being sent,
 * and a buffer is reused only once its last chunk has left. A 50 MB video is never held in memory, nor left behind
 * as garbage.
 */
async function pumpMultipart(
  file: UploadSource,
  head: Buffer,
  tail: Buffer,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  const { handle, size } = file;
  await write(head);
  const buffers = [Buffer.allocUnsafe(UPLOAD_CHUNK), Buffer.allocUnsafe(UPLOAD_CHUNK)] as const;
  let sending: Promise<void> = Promise.resolve();
  let position = 0;
  for (let turn = 0; position < size; turn++) {
    const buffer = buffers[turn % 2] as Buffer;
    const { bytesRead } = await handle.read(buffer, 0, Math.min(UPLOAD_CHUNK, size - position), position);
    if (bytesRead === 0) {
      await sending.catch(() => {});
      throw new FileRejectedError(
        file.given,
        'the file shrank while it was being uploaded',
        'Wait until the file is complete, then call again.',
      );
    }
    position += bytesRead;
    // The other buffer is read into next: its chunk must have left first.
    await sending;
    sending = write(buffer.subarray(0, bytesRead));
    // Awaited on the next turn; until then a failed write (the request aborted) must not count as unhandled.
    sending.catch(() => {});
  }
  await sending;
  await write(tail);
}
