/**
 * Apiframe on loopback: the v2 routes seedance-mcp uses, answering in the shapes of Apiframe's OpenAPI spec, with
 * the documented behaviour (auth errors, strict validation from the same parameter model, credits and refunds,
 * idempotency replays and conflicts, jobs that progress and complete or fail, sniffed uploads, assets that
 * activate) and faults on demand. This file listens, routes and records; each route's behaviour has its own module.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { log } from '../core/log.js';
import { accountJson, authenticate } from './account.js';
import { assetJson, createAsset } from './assets.js';
import { settleRefunds } from './clock.js';
import { type Controlled, control } from './control.js';
import { type FaultInput, FaultPlan, type SimulatorRoute } from './faults.js';
import { serveFile } from './files.js';
import { HttpFailure, headerValue, type RecordedExchange, readJson, send } from './http.js';
import { jobJson, listJobs, modelCatalog, ownJob, submit } from './jobs.js';
import { SimulatedMedia } from './media.js';
import { loadWorld, saveWorld } from './persist.js';
import { assetIdOf, jobIdOf, routeOf } from './routes.js';
import type { SimAsset, SimJob, SimUpload, SimulatorOptions } from './state.js';
import { strikeAfter, strikeBefore } from './strike.js';
import { SIMULATED, simulatedTiming } from './timing.js';
import { uploadFile } from './uploads.js';
import { WebhookSender } from './webhooks.js';

export type { RecordedExchange } from './http.js';
export { FAILURE_MARKER, type SimulatorOptions } from './state.js';

/** Routes after which the world may have changed, and is saved (control requests too). */
const CHANGES_WORLD = new Set<SimulatorRoute>(['submit', 'upload', 'asset_create']);

export class Simulator implements Controlled {
  readonly faults = new FaultPlan();
  readonly exchanges: RecordedExchange[] = [];
  readonly jobs = new Map<string, SimJob>();
  readonly assets = new Map<string, SimAsset>();
  readonly uploads = new Map<string, SimUpload>();
  /** Requests per route, faults included: tests count upstream calls with it. */
  readonly hits = new Map<SimulatorRoute, number>();
  readonly idempotency = new Map<string, { hash: string; jobId: string }>();
  credits: number;
  url = '';
  queuedMs: number;
  processingMs: number;
  readonly assetProcessingMs: number;
  readonly options: SimulatorOptions;
  readonly now: () => number;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly sockets = new Set<Socket>();
  private readonly media: SimulatedMedia;
  /** Saves in order, one at a time: each writes the whole world as it then is. */
  private saving: Promise<void> = Promise.resolve();
  /** Signed webhooks of jobs submitted with a webhookUrl, and each delivery's outcome. */
  readonly webhooks = new WebhookSender(this, (job) => jobJson(this, job));

  constructor(options: SimulatorOptions = {}) {
    const timing = simulatedTiming();
    this.options = options;
    this.credits = options.credits ?? SIMULATED.credits;
    this.queuedMs = options.queuedMs ?? timing.queuedMs;
    this.processingMs = options.processingMs ?? timing.processingMs;
    this.assetProcessingMs = options.assetProcessingMs ?? timing.assetProcessingMs;
    this.now = options.now ?? Date.now;
    this.media = new SimulatedMedia(options.lastFrame);
    this.server.keepAliveTimeout = 5_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<string> {
    const saved = this.options.stateFile === undefined ? undefined : await loadWorld(this.options.stateFile);
    if (saved !== undefined) {
      this.credits = saved.credits;
      for (const [id, job] of saved.jobs) this.jobs.set(id, job);
      for (const [id, asset] of saved.assets) this.assets.set(id, asset);
      for (const [id, upload] of saved.uploads) this.uploads.set(id, upload);
      for (const [key, replay] of saved.idempotency) this.idempotency.set(key, replay);
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.url = `http://${address.address}:${address.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.webhooks.close();
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
    this.webhooks.forced(job);
  }

  exchangesFor(route: SimulatorRoute): RecordedExchange[] {
    return this.exchanges.filter((e) => e.route === route);
  }

  /** Keeps the world on disk after a request that may have changed it (when a state file is set). */
  private persist(): Promise<void> {
    const path = this.options.stateFile;
    if (path === undefined) return Promise.resolve();
    this.saving = this.saving
      .then(() => saveWorld(path, this))
      .catch((error: unknown) =>
        log.error('could not save the simulated world', { path, error: String(error) }),
      );
    return this.saving;
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
      if (fault !== undefined && (await strikeBefore(fault, req, res, entry))) return;
      if (entry.route === 'control') {
        await control(this, req, res, url, entry);
        await this.persist();
        return;
      }
      if (route === 'file') {
        await serveFile(this, this.media, res, url.pathname, entry, fault);
        return;
      }
      if (route === undefined) throw new HttpFailure(404, { error: 'Not found' });
      if (route === 'models') {
        // Public, as Apiframe's: no key asked.
        send(res, 200, modelCatalog(this, url), entry);
        return;
      }
      const apiKey = authenticate(req, this.options.inactiveKeys);
      const { status, body } = await this.dispatch(route, req, url, apiKey, entry);
      // Saved before the answer goes: what a client was told exists survives a restart.
      if (CHANGES_WORLD.has(route)) await this.persist();
      if (fault !== undefined) {
        await strikeAfter(fault, res, status, body, entry);
        return;
      }
      send(res, status, body, entry);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof HttpFailure) {
        send(res, error.status, error.body, entry);
        return;
      }
      log.error('simulator route failed', { path: url.pathname, error: String(error) });
      send(res, 500, { error: 'Internal server error' }, entry);
    }
  }

  private async dispatch(
    route: Exclude<SimulatorRoute, 'file' | 'models'>,
    req: IncomingMessage,
    url: URL,
    apiKey: string,
    entry: RecordedExchange,
  ): Promise<{ status: number; body: unknown }> {
    switch (route) {
      case 'submit': {
        const answer = await submit(this, req, apiKey, entry);
        // A new job (not an idempotent replay of an old one) plans its webhooks.
        if ('created' in answer) this.webhooks.schedule(answer.created);
        return { status: answer.status, body: answer.body };
      }
      case 'job':
        return { status: 200, body: jobJson(this, ownJob(this, jobIdOf(url.pathname), apiKey)) };
      case 'jobs':
        return { status: 200, body: listJobs(this, url, apiKey) };
      case 'upload':
        return { status: 201, body: await uploadFile(this, req) };
      case 'asset_create':
        return { status: 201, body: createAsset(this, await readJson(req, entry), apiKey) };
      case 'asset':
        return { status: 200, body: assetJson(this, assetIdOf(url.pathname), apiKey) };
      case 'me':
        settleRefunds(this);
        return { status: 200, body: accountJson(apiKey, this.credits) };
    }
  }
}

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = new Simulator(options);
  await simulator.listen();
  return simulator;
}
