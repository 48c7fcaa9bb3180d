/**
 * Apiframe on loopback: the v2 routes seedance-mcp uses, answering in the shapes of Apiframe's OpenAPI spec, with
 * the documented behaviour (auth errors, strict validation from the same parameter model, credits and refunds,
 * idempotency replays and conflicts, jobs that progress and complete or fail, sniffed uploads, assets that
 * activate) and faults on demand.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import busboy from 'busboy';
import * as z from 'zod';
import { JOB_STATUSES, type JobStatus } from '../apiframe/schemas.js';
import { log } from '../core/log.js';
import { packageAsset } from '../core/package-files.js';
import { formatBytes, SNIFF_BYTES, sniffMedia, UPLOAD_LIMITS } from '../domain/media.js';
import { formatPath, LIMITS, MEDIA_KINDS, MODEL, WireVideoRequest } from '../domain/params.js';
import { DEFAULT_PRICES, estimate, type PriceTable } from '../domain/pricing.js';
import { type Fault, type FaultInput, FaultPlan, FaultSchema, type SimulatorRoute } from './faults.js';

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /** Starting credit balance of the simulated team. */
  credits?: number;
  /** Time a job spends QUEUED, then PROCESSING, before it completes. */
  queuedMs?: number;
  processingMs?: number;
  /** Time an asset spends Processing before it is Active. */
  assetProcessingMs?: number;
  /** The price the simulated Apiframe charges; differs from seedance-mcp's table to test price drift. */
  prices?: PriceTable;
  /** Older docs show `result` as a bare URL string; newer ones as an object. */
  resultShape?: 'object' | 'string';
  /** Whether creditCost is visible from submission or only once the job completes. */
  costVisibleAt?: 'submit' | 'completion';
  /** Keys answered with 403 "API key is inactive". */
  inactiveKeys?: string[];
  /** Exchanges kept for inspection (oldest dropped first). */
  maxRecorded?: number;
  now?: () => number;
}

/** A prompt or asset URL containing this (any case) makes the job or asset fail. */
export const FAILURE_MARKER = 'simulate-failure';

export interface RecordedExchange {
  route: SimulatorRoute | 'control' | 'unknown';
  method: string;
  path: string;
  status: number | undefined;
  idempotencyKey: string | undefined;
  requestBody: unknown;
  responseBody: unknown;
  fault: Fault['kind'] | undefined;
}

interface SimJob {
  id: string;
  apiKey: string;
  createdAt: number;
  input: z.output<typeof WireVideoRequest>;
  price: number;
  willFail: boolean;
  forced?: { status: 'PROCESSING' | 'COMPLETED' | 'FAILED'; at: number };
  refunded: boolean;
  queuedMs: number;
  processingMs: number;
}

interface SimAsset {
  id: string;
  apiKey: string;
  url: string;
  type: (typeof MEDIA_KINDS)[number];
  createdAt: number;
  willFail: boolean;
}

interface SimUpload {
  id: string;
  kind: (typeof MEDIA_KINDS)[number];
  contentType: string;
  byteSize: number;
  sha256: string;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(String(body.error));
  }
}

const CreateAssetBody = z.strictObject({ url: z.url({ protocol: /^https?$/ }), type: z.enum(MEDIA_KINDS) });
const ListQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  model: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().optional(),
  scope: z.enum(['user', 'team']).optional(),
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const MAX_JSON_BYTES = 1024 * 1024;

export class Simulator {
  readonly faults = new FaultPlan();
  readonly exchanges: RecordedExchange[] = [];
  readonly jobs = new Map<string, SimJob>();
  readonly assets = new Map<string, SimAsset>();
  readonly uploads = new Map<string, SimUpload>();
  /** Requests per route, faults included: tests count upstream calls with it. */
  readonly hits = new Map<SimulatorRoute, number>();
  credits: number;
  url = '';
  queuedMs: number;
  processingMs: number;
  private readonly idempotency = new Map<string, { hash: string; jobId: string }>();
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly sockets = new Set<Socket>();
  private readonly options: SimulatorOptions;
  private readonly now: () => number;
  private readonly fixtures = new Map<string, Buffer>();

  constructor(options: SimulatorOptions = {}) {
    this.options = options;
    this.credits = options.credits ?? 100_000;
    this.queuedMs = options.queuedMs ?? 2_000;
    this.processingMs = options.processingMs ?? 20_000;
    this.now = options.now ?? Date.now;
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<string> {
    const [video, frame] = await Promise.all([
      readFile(packageAsset('sim-video.mp4')),
      readFile(packageAsset('sim-last-frame.png')),
    ]);
    this.fixtures.set('video', video);
    this.fixtures.set('frame', frame);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.url = `http://${address.address}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  addFault(fault: FaultInput): void {
    this.faults.add(fault);
  }

  /** Jobs created upstream: what a double charge would show up in. */
  get jobCount(): number {
    return this.jobs.size;
  }

  forceJob(id: string, status: 'PROCESSING' | 'COMPLETED' | 'FAILED'): void {
    const job = this.jobs.get(id);
    if (job === undefined) throw new Error(`no simulated job ${id}`);
    job.forced = { status, at: this.now() };
  }

  exchangesFor(route: SimulatorRoute): RecordedExchange[] {
    return this.exchanges.filter((e) => e.route === route);
  }

  jobStatus(job: SimJob): { status: JobStatus; progress: number; completedAt: number | null } {
    const now = this.now();
    if (job.forced !== undefined) {
      const { status, at } = job.forced;
      return status === 'PROCESSING'
        ? { status, progress: 50, completedAt: null }
        : { status, progress: status === 'COMPLETED' ? 100 : 0, completedAt: at };
    }
    const elapsed = now - job.createdAt;
    if (elapsed < job.queuedMs) return { status: 'QUEUED', progress: 0, completedAt: null };
    if (elapsed < job.queuedMs + job.processingMs) {
      const progress = Math.min(99, Math.floor((100 * (elapsed - job.queuedMs)) / job.processingMs));
      return { status: 'PROCESSING', progress, completedAt: null };
    }
    const completedAt = job.createdAt + job.queuedMs + job.processingMs;
    return job.willFail
      ? { status: 'FAILED', progress: 0, completedAt }
      : { status: 'COMPLETED', progress: 100, completedAt };
  }

  /** FAILED jobs are refunded in full, once, whether or not anybody has looked at them. */
  private settleRefunds(): void {
    for (const job of this.jobs.values()) {
      if (!job.refunded && this.jobStatus(job).status === 'FAILED') {
        job.refunded = true;
        this.credits += job.price;
      }
    }
  }

  private record(entry: RecordedExchange): void {
    this.exchanges.push(entry);
    const max = this.options.maxRecorded ?? 5_000;
    if (this.exchanges.length > max) this.exchanges.splice(0, this.exchanges.length - max);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const method = req.method ?? 'GET';
    const route = routeOf(method, url.pathname);
    const entry: RecordedExchange = {
      route: route ?? (url.pathname.startsWith('/__simulator/') ? 'control' : 'unknown'),
      method,
      path: url.pathname + url.search,
      status: undefined,
      idempotencyKey: headerValue(req, 'idempotency-key'),
      requestBody: undefined,
      responseBody: undefined,
      fault: undefined,
    };
    if (route !== undefined) this.hits.set(route, (this.hits.get(route) ?? 0) + 1);
    const fault = route === undefined ? undefined : this.faults.take(route);
    entry.fault = fault?.kind;
    this.record(entry);
    try {
      if (fault !== undefined && (await this.preFault(fault, req, res, entry))) return;
      if (entry.route === 'control') {
        await this.control(req, res, url, entry);
        return;
      }
      if (route === 'file') {
        await this.serveFile(res, url.pathname, entry, fault);
        return;
      }
      if (route === undefined) throw new HttpFailure(404, { error: 'Not found' });
      const apiKey = this.authenticate(req);
      const { status, body } = await this.dispatch(route, req, url, apiKey, entry);
      if (fault !== undefined) {
        await this.postFault(fault, res, status, body, entry);
        return;
      }
      this.send(res, status, body, entry);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof HttpFailure) {
        this.send(res, error.status, error.body, entry);
        return;
      }
      log.error('simulator route failed', { path: url.pathname, error: String(error) });
      this.send(res, 500, { error: 'Internal server error' }, entry);
    }
  }

  /** Faults that strike before the request is processed; true when the request is done with. */
  private async preFault(
    fault: Fault,
    req: IncomingMessage,
    res: ServerResponse,
    entry: RecordedExchange,
  ): Promise<boolean> {
    switch (fault.kind) {
      case 'rate_limit':
        res.setHeader('retry-after', String(fault.retryAfterSeconds));
        this.send(res, 429, { error: 'Rate limit exceeded' }, entry);
        req.resume();
        return true;
      case 'unavailable':
        this.send(res, 503, { error: 'Service temporarily unavailable' }, entry);
        req.resume();
        return true;
      case 'server_error':
        this.send(res, 500, { error: 'Internal server error' }, entry);
        req.resume();
        return true;
      case 'reset_before':
        req.socket.destroy();
        return true;
      default:
        return false;
    }
  }

  /** Faults that strike after the request was processed: the work is done, the answer is lost or spoiled. */
  private async postFault(
    fault: Fault,
    res: ServerResponse,
    status: number,
    body: unknown,
    entry: RecordedExchange,
  ): Promise<void> {
    const text = JSON.stringify(body);
    switch (fault.kind) {
      case 'reset_after':
        res.socket?.destroy();
        return;
      case 'slow':
        await holdBack(res, fault.delayMs);
        if (!res.destroyed) this.send(res, status, body, entry);
        return;
      case 'malformed':
        entry.status = status;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(`${text.slice(0, Math.max(1, Math.floor(text.length / 2)))}<html>Bad gateway`);
        return;
      case 'truncated':
        entry.status = status;
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(text)),
        });
        // Destroyed only once the headers and the first half are on the wire: destroying at once discards them, and
        // the client would see a plain connection reset instead of a cut-off body.
        res.write(text.slice(0, Math.floor(text.length / 2)), () => res.socket?.destroy());
        return;
      default:
        this.send(res, status, body, entry);
    }
  }

  private send(res: ServerResponse, status: number, body: unknown, entry: RecordedExchange): void {
    entry.status = status;
    entry.responseBody = body;
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
    });
    res.end(text);
  }

  private authenticate(req: IncomingMessage): string {
    const key = headerValue(req, 'x-api-key') ?? bearer(headerValue(req, 'authorization'));
    if (key === undefined || key === '') throw new HttpFailure(401, { error: 'API key is required' });
    if (!/^afk_[A-Za-z0-9_-]+$/.test(key)) throw new HttpFailure(401, { error: 'Invalid API key' });
    if ((this.options.inactiveKeys ?? ['afk_inactive']).includes(key)) {
      throw new HttpFailure(403, { error: 'API key is inactive' });
    }
    return key;
  }

  private async dispatch(
    route: Exclude<SimulatorRoute, 'file'>,
    req: IncomingMessage,
    url: URL,
    apiKey: string,
    entry: RecordedExchange,
  ): Promise<{ status: number; body: unknown }> {
    switch (route) {
      case 'submit':
        return this.submit(req, apiKey, entry);
      case 'job':
        return {
          status: 200,
          body: this.jobJson(this.ownJob(url.pathname.slice('/v2/jobs/'.length), apiKey)),
        };
      case 'jobs':
        return { status: 200, body: this.listJobs(url, apiKey) };
      case 'upload':
        return { status: 201, body: await this.upload(req) };
      case 'asset_create':
        return { status: 201, body: this.createAsset(await readJson(req, entry), apiKey) };
      case 'asset':
        return { status: 200, body: this.assetJson(assetIdOf(url.pathname), apiKey) };
      case 'me':
        this.settleRefunds();
        return {
          status: 200,
          body: {
            user: {
              id: stableUuid(`user:${apiKey}`),
              email: 'simulated@seedance-mcp.invalid',
              role: 'OWNER',
            },
            team: {
              id: stableUuid(`team:${apiKey}`),
              name: 'Simulated team',
              credits: this.credits,
              plan: 'simulated',
              customerId: null,
            },
            apiKey: { id: stableUuid(`key:${apiKey}`), name: 'simulator', prefix: apiKey.slice(0, 8) },
          },
        };
    }
  }

  private async submit(req: IncomingMessage, apiKey: string, entry: RecordedExchange) {
    const body = await readJson(req, entry);
    const key = entry.idempotencyKey;
    if (key !== undefined && (key.length === 0 || key.length > LIMITS.idempotencyKey)) {
      throw new HttpFailure(400, {
        error: 'Validation failed',
        details: { 'Idempotency-Key': [`must be 1-${LIMITS.idempotencyKey} characters`] },
      });
    }
    const model = (body as { model?: unknown } | null)?.model;
    if (model !== MODEL) {
      throw new HttpFailure(400, {
        error: 'Validation failed',
        details: { model: [`this simulator only serves "${MODEL}"`] },
      });
    }
    const parsed = WireVideoRequest.safeParse(body);
    if (!parsed.success)
      throw new HttpFailure(400, { error: 'Validation failed', details: zodDetails(parsed.error) });
    const request = parsed.data;
    const params = request.seedanceParams ?? defaultParams();
    this.checkAssetsExist(params, apiKey);
    const hash = createHash('sha256').update(canonicalJson(body)).digest('hex');
    if (key !== undefined) {
      const previous = this.idempotency.get(`${apiKey}\u0000${key}`);
      if (previous !== undefined) {
        if (previous.hash !== hash) {
          throw new HttpFailure(409, {
            error: 'Idempotency-Key was already used with a different request body',
          });
        }
        const job = this.jobs.get(previous.jobId);
        const status = job === undefined ? 'QUEUED' : this.jobStatus(job).status;
        return {
          status: 202,
          body: { jobId: previous.jobId, status: status === 'CANCELLED' ? 'FAILED' : status },
        };
      }
    }
    this.settleRefunds();
    const price = estimate(params, this.options.prices ?? DEFAULT_PRICES).credits;
    if (this.credits < price) {
      throw new HttpFailure(402, {
        error: 'Insufficient credits',
        creditsRequired: price,
        creditsAvailable: this.credits,
      });
    }
    this.credits -= price;
    const job: SimJob = {
      id: randomUUID(),
      apiKey,
      createdAt: this.now(),
      input: request,
      price,
      willFail: request.prompt.toLowerCase().includes(FAILURE_MARKER),
      refunded: false,
      queuedMs: this.queuedMs,
      processingMs: this.processingMs,
    };
    this.jobs.set(job.id, job);
    if (key !== undefined) this.idempotency.set(`${apiKey}\u0000${key}`, { hash, jobId: job.id });
    return { status: 202, body: { jobId: job.id, status: 'QUEUED' } };
  }

  private checkAssetsExist(
    params: NonNullable<z.output<typeof WireVideoRequest>['seedanceParams']>,
    apiKey: string,
  ) {
    const details: Record<string, string[]> = {};
    const check = (path: string, ref: string | undefined) => {
      if (ref === undefined || !ref.startsWith('asset://')) return;
      const asset = this.assets.get(ref.slice('asset://'.length));
      if (asset === undefined || asset.apiKey !== apiKey) details[path] = ['Unknown asset'];
      else if (this.assetStatus(asset) !== 'Active') details[path] = ['Asset is not active'];
    };
    check('seedanceParams.start_image', params.start_image);
    check('seedanceParams.end_image', params.end_image);
    for (const field of ['reference_image_urls', 'reference_video_urls', 'reference_audio_urls'] as const) {
      params[field]?.forEach((ref, i) => {
        check(`seedanceParams.${field}.${i}`, ref);
      });
    }
    if (Object.keys(details).length > 0) throw new HttpFailure(400, { error: 'Validation failed', details });
  }

  private ownJob(id: string, apiKey: string): SimJob {
    if (!UUID.test(id)) throw new HttpFailure(400, { error: 'Invalid job id' });
    const job = this.jobs.get(id);
    if (job === undefined || job.apiKey !== apiKey) throw new HttpFailure(404, { error: 'Job not found' });
    return job;
  }

  private jobJson(job: SimJob) {
    this.settleRefunds();
    const { status, progress, completedAt } = this.jobStatus(job);
    const costVisible = (this.options.costVisibleAt ?? 'submit') === 'submit' || status === 'COMPLETED';
    return {
      id: job.id,
      status,
      model: MODEL,
      progress,
      result: status === 'COMPLETED' ? this.resultOf(job) : null,
      error: status === 'FAILED' ? 'Generation failed: the provider rejected the prompt (simulated)' : null,
      creditCost: status === 'FAILED' ? 0 : costVisible ? job.price : null,
      webhookStatus: null,
      createdAt: new Date(job.createdAt).toISOString(),
      completedAt: completedAt === null ? null : new Date(completedAt).toISOString(),
      expired: false,
      input: job.input as unknown as Record<string, unknown>,
    };
  }

  private resultOf(job: SimJob): unknown {
    const videoUrl = `${this.url}/files/${job.id}/video.mp4`;
    if (this.options.resultShape === 'string') return videoUrl;
    return job.input.seedanceParams?.return_last_frame === true
      ? { videoUrl, lastFrameUrl: `${this.url}/files/${job.id}/last-frame.png` }
      : { videoUrl };
  }

  private listJobs(url: URL, apiKey: string) {
    const parsed = ListQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success)
      throw new HttpFailure(400, { error: 'Invalid query', details: zodDetails(parsed.error) });
    const query = parsed.data;
    let after: [number, string] | undefined;
    if (query.cursor !== undefined) {
      try {
        after = JSON.parse(Buffer.from(query.cursor, 'base64url').toString('utf8')) as [number, string];
        if (!Array.isArray(after) || typeof after[0] !== 'number' || typeof after[1] !== 'string')
          throw new Error();
      } catch {
        throw new HttpFailure(400, { error: 'Invalid cursor' });
      }
    }
    const ordered = [...this.jobs.values()]
      .filter((j) => j.apiKey === apiKey)
      .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
      .filter(
        (j) => after === undefined || j.createdAt < after[0] || (j.createdAt === after[0] && j.id < after[1]),
      )
      .map((j) => ({ job: j, json: this.jobJson(j) }))
      .filter(
        ({ json }) =>
          (query.status === undefined || json.status === query.status) && (query.model ?? MODEL) === MODEL,
      );
    const page = ordered.slice(0, query.limit);
    const last = page.at(-1);
    const hasMore = ordered.length > page.length;
    return {
      jobs: page.map(({ json }) => {
        const { input: _input, ...listed } = json;
        return listed;
      }),
      nextCursor:
        hasMore && last !== undefined
          ? Buffer.from(JSON.stringify([last.job.createdAt, last.job.id])).toString('base64url')
          : null,
      hasMore,
    };
  }

  private upload(req: IncomingMessage): Promise<unknown> {
    const contentType = headerValue(req, 'content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
      req.resume();
      throw new HttpFailure(400, { error: 'Expected multipart/form-data with a "file" field' });
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: HttpFailure) => {
        if (settled) return;
        settled = true;
        req.unpipe();
        req.resume();
        reject(error);
      };
      let sawFile = false;
      const parser = busboy({ headers: req.headers, limits: { files: 1, fields: 10 } });
      parser.on('file', (field, stream) => {
        if (field !== 'file' || sawFile) {
          stream.resume();
          return;
        }
        sawFile = true;
        const hash = createHash('sha256');
        let head = Buffer.alloc(0);
        let size = 0;
        let limit: number = Math.max(...Object.values(UPLOAD_LIMITS));
        let type: ReturnType<typeof sniffMedia>;
        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          size += chunk.length;
          hash.update(chunk);
          if (type === undefined && head.length < SNIFF_BYTES) {
            head = Buffer.concat([head, chunk.subarray(0, SNIFF_BYTES - head.length)]);
            if (head.length >= SNIFF_BYTES) {
              type = sniffMedia(head);
              if (type === undefined) {
                fail(
                  new HttpFailure(400, {
                    error: 'Unsupported file type',
                    details: { file: ['Accepted: PNG, JPEG, WebP, GIF, MP4, WebM, MOV, MP3, WAV, OGG, M4A'] },
                  }),
                );
                return;
              }
              limit = UPLOAD_LIMITS[type.kind];
            }
          }
          if (size > limit) {
            fail(
              new HttpFailure(400, {
                error: 'File too large',
                details: { file: [`max ${formatBytes(limit)} for ${type?.kind ?? 'this'} files`] },
              }),
            );
          }
        });
        stream.on('end', () => {
          if (settled) return;
          type ??= sniffMedia(head);
          if (type === undefined) {
            fail(
              new HttpFailure(400, {
                error: 'Unsupported file type',
                details: { file: ['unrecognised content'] },
              }),
            );
            return;
          }
          const upload: SimUpload = {
            id: randomUUID(),
            kind: type.kind,
            contentType: type.contentType,
            byteSize: size,
            sha256: hash.digest('hex'),
          };
          this.uploads.set(upload.id, upload);
          settled = true;
          resolve({
            id: upload.id,
            url: `${this.url}/uploads/${upload.id}.${type.extension}`,
            kind: upload.kind,
            contentType: upload.contentType,
            byteSize: upload.byteSize,
            expiresAt: new Date(this.now() + 90 * 60_000).toISOString(),
          });
        });
      });
      parser.on('error', () => fail(new HttpFailure(400, { error: 'Malformed multipart body' })));
      parser.on('close', () => {
        if (!sawFile) fail(new HttpFailure(400, { error: 'No file', details: { file: ['Required'] } }));
      });
      req.on('aborted', () => {
        settled = true;
      });
      req.pipe(parser);
    });
  }

  private createAsset(body: unknown, apiKey: string) {
    const parsed = CreateAssetBody.safeParse(body);
    if (!parsed.success)
      throw new HttpFailure(400, { error: 'Validation failed', details: zodDetails(parsed.error) });
    const asset: SimAsset = {
      id: `asset-${randomBytes(10).toString('hex')}`,
      apiKey,
      url: parsed.data.url,
      type: parsed.data.type,
      createdAt: this.now(),
      willFail: parsed.data.url.toLowerCase().includes(FAILURE_MARKER),
    };
    this.assets.set(asset.id, asset);
    return { assetId: asset.id };
  }

  private assetStatus(asset: SimAsset): 'Processing' | 'Active' | 'Failed' {
    if (this.now() - asset.createdAt < (this.options.assetProcessingMs ?? 1_000)) return 'Processing';
    return asset.willFail ? 'Failed' : 'Active';
  }

  private assetJson(id: string, apiKey: string) {
    const asset = this.assets.get(id);
    if (asset === undefined || asset.apiKey !== apiKey)
      throw new HttpFailure(404, { error: 'Asset not found' });
    const status = this.assetStatus(asset);
    return {
      id: asset.id,
      status,
      type: asset.type,
      url: asset.url,
      errorMsg: status === 'Failed' ? 'The provider could not fetch or decode the file (simulated)' : null,
    };
  }

  /** A result file, with the faults that strike after the work (a download cut off, held back, spoiled, lost). */
  private async serveFile(
    res: ServerResponse,
    pathname: string,
    entry: RecordedExchange,
    fault: Fault | undefined,
  ): Promise<void> {
    const match = /^\/files\/([0-9a-f-]{36})\/(video\.mp4|last-frame\.png)$/.exec(pathname);
    const job = match?.[1] === undefined ? undefined : this.jobs.get(match[1]);
    if (job === undefined || this.jobStatus(job).status !== 'COMPLETED') {
      if (fault !== undefined) await this.postFault(fault, res, 404, { error: 'Not found' }, entry);
      else this.send(res, 404, { error: 'Not found' }, entry);
      return;
    }
    const isVideo = match?.[2] === 'video.mp4';
    const bytes = this.fixtures.get(isVideo ? 'video' : 'frame');
    if (bytes === undefined) throw new Error('simulator fixtures not loaded');
    const contentType = isVideo ? 'video/mp4' : 'image/png';
    switch (fault?.kind) {
      case 'reset_after':
        res.socket?.destroy();
        return;
      case 'slow':
        await holdBack(res, fault.delayMs);
        if (res.destroyed) return;
        break;
      case 'malformed':
        entry.status = 200;
        res.writeHead(200, { 'content-type': contentType });
        res.end('<html>Bad gateway</html>');
        return;
      case 'truncated':
        entry.status = 200;
        res.writeHead(200, { 'content-type': contentType, 'content-length': String(bytes.length) });
        res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => res.socket?.destroy());
        return;
    }
    entry.status = 200;
    res.writeHead(200, { 'content-type': contentType, 'content-length': String(bytes.length) });
    res.end(bytes);
  }

  /** Test and demo controls, outside Apiframe's namespace; they need no key. */
  private async control(req: IncomingMessage, res: ServerResponse, url: URL, entry: RecordedExchange) {
    const path = url.pathname.slice('/__simulator'.length);
    const method = req.method ?? 'GET';
    if (path === '/faults' && method === 'POST') {
      const parsed = FaultSchema.safeParse(await readJson(req, entry));
      if (!parsed.success)
        throw new HttpFailure(400, { error: 'Invalid fault', details: zodDetails(parsed.error) });
      this.faults.add(parsed.data);
      this.send(res, 201, { pending: this.faults.remaining }, entry);
      return;
    }
    if (path === '/faults' && method === 'DELETE') {
      this.faults.clear();
      this.send(res, 200, { pending: 0 }, entry);
      return;
    }
    const force = /^\/jobs\/([0-9a-f-]{36})\/(complete|fail|process)$/.exec(path);
    if (force !== null && method === 'POST' && force[1] !== undefined) {
      const status = force[2] === 'complete' ? 'COMPLETED' : force[2] === 'fail' ? 'FAILED' : 'PROCESSING';
      if (!this.jobs.has(force[1])) throw new HttpFailure(404, { error: 'Job not found' });
      this.forceJob(force[1], status);
      this.send(res, 200, { id: force[1], status }, entry);
      return;
    }
    if (path === '/state' && method === 'GET') {
      this.settleRefunds();
      this.send(
        res,
        200,
        {
          credits: this.credits,
          jobs: this.jobs.size,
          assets: this.assets.size,
          uploads: this.uploads.size,
          hits: Object.fromEntries(this.hits),
          faultsInjected: Object.fromEntries(this.faults.injected),
        },
        entry,
      );
      return;
    }
    if (path === '/state' && method === 'PATCH') {
      const patch = z
        .strictObject({
          credits: z.int().min(0).optional(),
          queuedMs: z.int().min(0).optional(),
          processingMs: z.int().min(0).optional(),
        })
        .safeParse(await readJson(req, entry));
      if (!patch.success)
        throw new HttpFailure(400, { error: 'Invalid patch', details: zodDetails(patch.error) });
      if (patch.data.credits !== undefined) this.credits = patch.data.credits;
      if (patch.data.queuedMs !== undefined) this.queuedMs = patch.data.queuedMs;
      if (patch.data.processingMs !== undefined) this.processingMs = patch.data.processingMs;
      this.send(
        res,
        200,
        { credits: this.credits, queuedMs: this.queuedMs, processingMs: this.processingMs },
        entry,
      );
      return;
    }
    throw new HttpFailure(404, { error: 'Unknown simulator control' });
  }
}

function defaultParams() {
  return WireVideoRequest.shape.seedanceParams.unwrap().parse({});
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = new Simulator(options);
  await simulator.listen();
  return simulator;
}

function routeOf(method: string, pathname: string): SimulatorRoute | undefined {
  if (method === 'POST' && pathname === '/v2/videos/generate') return 'submit';
  if (method === 'GET' && pathname === '/v2/jobs') return 'jobs';
  if (method === 'GET' && pathname.startsWith('/v2/jobs/')) return 'job';
  if (method === 'POST' && pathname === '/v2/uploads') return 'upload';
  if (method === 'POST' && pathname === '/v2/assets/create') return 'asset_create';
  if (method === 'GET' && pathname.startsWith('/v2/assets/')) return 'asset';
  if (method === 'GET' && pathname === '/v2/me') return 'me';
  if (method === 'GET' && pathname.startsWith('/files/')) return 'file';
  return undefined;
}

/** The asset id of a `/v2/assets/{id}` path; an id that is not valid percent-encoding is a 400, not a crash. */
function assetIdOf(pathname: string): string {
  try {
    return decodeURIComponent(pathname.slice('/v2/assets/'.length));
  } catch {
    throw new HttpFailure(400, { error: 'Invalid asset id' });
  }
}

/** Waits `ms`, or until the client goes away. */
function holdBack(res: ServerResponse, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function bearer(value: string | undefined): string | undefined {
  return value?.toLowerCase().startsWith('bearer ') ? value.slice(7).trim() : undefined;
}

async function readJson(req: IncomingMessage, entry: RecordedExchange): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) throw new HttpFailure(413, { error: 'Request body too large' });
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const body: unknown = text === '' ? undefined : JSON.parse(text);
    entry.requestBody = body;
    return body;
  } catch {
    throw new HttpFailure(400, { error: 'Invalid JSON body' });
  }
}

function zodDetails(error: z.ZodError): Record<string, string[]> {
  const details: Record<string, string[]> = {};
  const add = (path: string, message: string) => {
    const list = details[path] ?? [];
    list.push(message);
    details[path] = list;
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) add(dotted([...issue.path, key]), 'Unrecognized key');
    } else {
      add(dotted(issue.path) || '(root)', issue.message);
    }
  }
  return details;
}

/** Apiframe keys `details` by JSON path in dotted form: `seedanceParams.reference_image_urls.3`. */
function dotted(path: readonly PropertyKey[]): string {
  return formatPath(path).replace(/\[(\d+)\]/g, '.$1');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function stableUuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
