/** Apiframe's v2 operations that seedance-mcp uses, over HttpClient. */
import { randomBytes, randomUUID } from 'node:crypto';
import { constants, type promises as fs, promises as fsp } from 'node:fs';
import { SeedanceError } from '../errors.js';
import { formatBytes, type MediaType, SNIFF_BYTES, sniffMedia, UPLOAD_LIMITS } from '../media.js';
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

export class FileRejectedError extends SeedanceError {
  constructor(path: string, message: string, recovery: string) {
    super('file_rejected', `${path}: ${message}`, { recovery, details: { path } });
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

export interface CheckedFile {
  path: string;
  size: number;
  type: MediaType;
}

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
   * Uploads a local file, streamed from disk in bounded chunks: a 50 MB video is never held in memory. The file is
   * checked first (regular file, a type Apiframe accepts, within its size limit), so nothing doomed is sent.
   */
  async uploadFile(path: string, options: KeyedCallOptions & { expectKind?: MediaKind }): Promise<Upload> {
    this.requireKey();
    const handle = await openRegularFile(path);
    try {
      const file = await checkOpenFile(handle, path, options.expectKind);
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
          open: () => multipartStream(handle, path, file.size, head, tail),
          contentType: `multipart/form-data; boundary=${boundary}`,
          length: head.length + file.size + tail.length,
        },
        idempotencyKey: options.idempotencyKey,
        timeoutMs: this.http.options.timeoutMs + Math.ceil(file.size / MIN_UPLOAD_BYTES_PER_MS),
        signal: options.signal,
        schema: UploadSchema,
      });
      return response.data;
    } finally {
      await handle.close();
    }
  }
}

export function newIdempotencyKey(): string {
  return `seedance-mcp-${randomUUID()}`;
}

async function openRegularFile(path: string): Promise<fs.FileHandle> {
  let handle: fs.FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang waiting for a writer; it is refused below as not a regular file.
    handle = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open (${code})`;
    throw new FileRejectedError(path, reason, 'Check the path: give the absolute path of an existing file.');
  }
  return handle;
}

/** Checks an open file against Apiframe's upload rules; the same file stays open for the upload itself. */
export async function checkOpenFile(
  handle: fs.FileHandle,
  path: string,
  expectKind?: MediaKind,
): Promise<CheckedFile> {
  const stat = await handle.stat();
  if (!stat.isFile()) {
    throw new FileRejectedError(
      path,
      'not a regular file',
      'Give the path of an ordinary file, not a directory or device.',
    );
  }
  const head = Buffer.alloc(SNIFF_BYTES);
  const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
  const type = sniffMedia(head.subarray(0, bytesRead));
  if (type === undefined) {
    throw new FileRejectedError(
      path,
      'not a file type Apiframe accepts (judged by its contents, not its name)',
      'Use PNG, JPEG, WebP or GIF images; MP4, WebM or MOV videos; MP3, WAV, OGG or M4A audio.',
    );
  }
  if (expectKind !== undefined && type.kind !== expectKind) {
    throw new FileRejectedError(
      path,
      `is ${type.kind === 'image' ? 'an' : 'a'} ${type.kind} (${type.contentType}), not ${expectKind === 'image' ? 'an' : 'a'} ${expectKind}`,
      `Give ${expectKind === 'image' ? 'an' : 'a'} ${expectKind} file for this field.`,
    );
  }
  const limit = UPLOAD_LIMITS[type.kind];
  if (stat.size > limit) {
    throw new FileRejectedError(
      path,
      `${formatBytes(stat.size)} is over Apiframe's ${formatBytes(limit)} limit for ${type.kind} files`,
      `Shrink or trim the file below ${formatBytes(limit)}, or give a public URL to it instead.`,
    );
  }
  return { path, size: stat.size, type };
}

function multipartStream(
  handle: fs.FileHandle,
  path: string,
  size: number,
  head: Buffer,
  tail: Buffer,
): ReadableStream<Uint8Array> {
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
                path,
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
