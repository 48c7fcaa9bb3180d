/** What the simulator holds: its options, the jobs, assets and uploads it made, and the state its parts share. */
import type * as z from 'zod';
import type { MediaDimensions } from '../domain/media-probe.js';
import type { MEDIA_KINDS, Model, WireVideoRequest } from '../domain/params.js';
import type { Prices } from '../domain/pricing.js';
import type { LastFrameSize } from './media.js';

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
  /**
   * What the simulated Apiframe charges, per model, over SIMULATED_PRICES (jobs.ts): a model or variant given here
   * replaces the default, so tests can make a rate differ from seedance-mcp's (price drift).
   */
  prices?: Prices;
  /** The models `GET /v2/models` lists (all of the family by default): a model left out is not available. */
  catalogModels?: readonly Model[];
  /** Older docs show `result` as a bare URL string; newer ones as an object. */
  resultShape?: 'object' | 'string';
  /** Whether creditCost is visible from submission or only once the job completes. */
  costVisibleAt?: 'submit' | 'completion';
  /** Keys answered with 403 "API key is inactive". */
  inactiveKeys?: string[];
  /** Exchanges kept for inspection (oldest dropped first). */
  maxRecorded?: number;
  /** The size of every job's last frame (by default 360 px on the short side, in the job's aspect ratio). */
  lastFrame?: LastFrameSize;
  /** A file keeping the simulated world (jobs, assets, uploads, credits) across restarts; none: memory only. */
  stateFile?: string;
  now?: () => number;
  /** Webhooks for jobs submitted with a webhookUrl: sent (default), or never (deliveries lost). */
  webhooks?: 'send' | 'never';
}

/** A prompt or asset URL containing this (any case) makes the job or asset fail. */
export const FAILURE_MARKER = 'simulate-failure';

export interface SimJob {
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

export interface SimAsset {
  id: string;
  apiKey: string;
  url: string;
  type: (typeof MEDIA_KINDS)[number];
  createdAt: number;
  willFail: boolean;
}

export interface SimUpload {
  id: string;
  kind: (typeof MEDIA_KINDS)[number];
  contentType: string;
  byteSize: number;
  sha256: string;
  /** Pixels or length read from the bytes, as Seedance would; absent for a file too large to hold or unreadable. */
  dimensions?: MediaDimensions | undefined;
}

/** The state the route handlers read and change; the Simulator class owns it. */
export interface SimState {
  readonly options: SimulatorOptions;
  readonly jobs: Map<string, SimJob>;
  readonly assets: Map<string, SimAsset>;
  readonly uploads: Map<string, SimUpload>;
  /** `apiKey NUL Idempotency-Key` to the request hash and job it created. */
  readonly idempotency: Map<string, { hash: string; jobId: string }>;
  credits: number;
  queuedMs: number;
  processingMs: number;
  readonly assetProcessingMs: number;
  /** Base URL once listening: result and upload URLs point at it. */
  readonly url: string;
  now(): number;
}
