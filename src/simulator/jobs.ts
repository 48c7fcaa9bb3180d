/** Video jobs: submission (validation, idempotency, credits), one job, and the job list with its cursor. */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import * as z from 'zod';
import { JOB_STATUSES } from '../apiframe/schemas.js';
import {
  ASSET_URI_PREFIX,
  LIMITS,
  MEDIA_FIELDS,
  type MediaField,
  type MediaMeasure,
  MODELS,
  mediaRuleBreaks,
  WireVideoRequest,
} from '../domain/params.js';
import { DEFAULT_PRICES, estimate, type Prices } from '../domain/pricing.js';
import { requestHash } from '../domain/request-hash.js';
import { assetStatus, jobStatus, settleRefunds } from './clock.js';
import { HttpFailure, type RecordedExchange, readJson, zodDetails } from './http.js';
import { FAILURE_MARKER, type SimJob, type SimState, type SimUpload } from './state.js';

const ListQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  model: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().optional(),
  scope: z.enum(['user', 'team']).optional(),
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export async function submit(state: SimState, req: IncomingMessage, apiKey: string, entry: RecordedExchange) {
  const body = await readJson(req, entry);
  const key = entry.idempotencyKey;
  if (key !== undefined && (key.length === 0 || key.length > LIMITS.idempotencyKey)) {
    throw new HttpFailure(400, {
      error: 'Validation failed',
      details: { 'Idempotency-Key': [`must be 1-${LIMITS.idempotencyKey} characters`] },
    });
  }
  const model = (body as { model?: unknown } | null)?.model;
  if (!MODELS.some((m) => m === model)) {
    throw new HttpFailure(400, {
      error: 'Validation failed',
      details: { model: [`this simulator only serves ${MODELS.map((m) => `"${m}"`).join(', ')}`] },
    });
  }
  const parsed = WireVideoRequest.safeParse(body);
  if (!parsed.success)
    throw new HttpFailure(400, { error: 'Validation failed', details: zodDetails(parsed.error) });
  const request = parsed.data;
  const params = request.seedanceParams ?? defaultParams();
  checkAssetsExist(state, params, apiKey);
  checkMeasuredMedia(state, params);
  // The body as sent (valid, defaults not filled in): a replay must match what the caller sent, not what it means.
  const hash = requestHash(body as WireVideoRequest);
  if (key !== undefined) {
    const previous = state.idempotency.get(`${apiKey}\u0000${key}`);
    if (previous !== undefined) {
      if (previous.hash !== hash) {
        throw new HttpFailure(409, {
          error: 'Idempotency-Key was already used with a different request body',
        });
      }
      const job = state.jobs.get(previous.jobId);
      const status = job === undefined ? 'QUEUED' : jobStatus(job, state.now()).status;
      return {
        status: 202,
        body: { jobId: previous.jobId, status: status === 'CANCELLED' ? 'FAILED' : status },
      };
    }
  }
  settleRefunds(state);
  const price = estimate(
    { ...params, model: request.model },
    { prices: simulatedPrices(state), learned: [] },
  ).credits;
  if (state.credits < price) {
    throw new HttpFailure(402, {
      error: 'Insufficient credits',
      creditsRequired: price,
      creditsAvailable: state.credits,
    });
  }
  state.credits -= price;
  const job: SimJob = {
    id: randomUUID(),
    apiKey,
    createdAt: state.now(),
    input: request,
    price,
    willFail: request.prompt.toLowerCase().includes(FAILURE_MARKER),
    refunded: false,
    queuedMs: state.queuedMs,
    processingMs: state.processingMs,
  };
  state.jobs.set(job.id, job);
  if (key !== undefined) state.idempotency.set(`${apiKey}\u0000${key}`, { hash, jobId: job.id });
  return { status: 202, body: { jobId: job.id, status: 'QUEUED' }, created: job };
}

/**
 * What the simulated Apiframe charges when a test says nothing: seedance-2 at the published table (with 4k), and the
 * others at rates of their own, unknown to seedance-mcp, so that learning and bounds are exercised end to end.
 */
export const SIMULATED_PRICES: Prices = {
  'seedance-2': { ...DEFAULT_PRICES, '4k': 25, '4k-refvid': 50 },
  'seedance-2-fast': { '480p': 1, '720p': 3, '480p-refvid': 2, '720p-refvid': 6 },
  'seedance-2-mini': { '480p': 1, '720p': 2, '480p-refvid': 2, '720p-refvid': 4 },
  'seedance-2.5': {
    '480p': 3,
    '720p': 6,
    '1080p': 14,
    '4k': 30,
    '480p-refvid': 6,
    '720p-refvid': 12,
    '1080p-refvid': 28,
    '4k-refvid': 60,
  },
};

/**
 * `GET /v2/models`: the Seedance family as Apiframe's catalog lists it, each with its cost range per second (the
 * lowest and highest rate this simulator charges for it). `?modality=` filters as upstream; a bad one is a 400.
 */
export function modelCatalog(state: SimState, url: URL) {
  const modality = url.searchParams.get('modality');
  if (modality !== null && !['image', 'video', 'music'].includes(modality)) {
    throw new HttpFailure(400, {
      error: 'Validation failed',
      details: { modality: ['must be image, video or music'] },
    });
  }
  const prices = simulatedPrices(state);
  const listed = state.options.catalogModels ?? MODELS;
  const models = listed.map((id) => {
    const rates = Object.values(prices[id] ?? {});
    return {
      id,
      label: id,
      modality: 'video',
      description: `Seedance ${id.slice('seedance-'.length)} (simulated)`,
      costMin: Math.min(...rates),
      costMax: Math.max(...rates),
      pricingMode: 'per-second',
    };
  });
  return { models: modality === null || modality === 'video' ? models : [] };
}

function simulatedPrices(state: SimState): Prices {
  const given = state.options.prices ?? {};
  return Object.fromEntries(MODELS.map((model) => [model, { ...SIMULATED_PRICES[model], ...given[model] }]));
}

function defaultParams() {
  return WireVideoRequest.shape.seedanceParams.unwrap().parse({});
}

function checkAssetsExist(
  state: SimState,
  params: NonNullable<z.output<typeof WireVideoRequest>['seedanceParams']>,
  apiKey: string,
) {
  const details: Record<string, string[]> = {};
  const check = (path: string, ref: string | undefined) => {
    if (ref === undefined || !ref.startsWith(ASSET_URI_PREFIX)) return;
    const asset = state.assets.get(ref.slice(ASSET_URI_PREFIX.length));
    if (asset === undefined || asset.apiKey !== apiKey) details[path] = ['Unknown asset'];
    else if (assetStatus(state, asset) !== 'Active') details[path] = ['Asset is not active'];
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

/** The upload an asset was registered from, when it came from this simulator's own upload URLs. */
function uploadOf(state: SimState, assetRef: string): SimUpload | undefined {
  const asset = state.assets.get(assetRef.slice(ASSET_URI_PREFIX.length));
  if (asset === undefined || !asset.url.startsWith(`${state.url}/uploads/`)) return undefined;
  const id = asset.url.slice(`${state.url}/uploads/`.length).replace(/\.[a-z0-9]+$/, '');
  return state.uploads.get(id);
}

/**
 * Seedance's media rules on the files this simulator measured when they were uploaded: the same rules, from the same
 * model, that the server judges local files by before it uploads them.
 */
function checkMeasuredMedia(state: SimState, params: NonNullable<WireVideoRequest['seedanceParams']>) {
  const measures: MediaMeasure[] = [];
  const unmeasured = new Set<MediaField>();
  for (const field of MEDIA_FIELDS) {
    const value = params[field];
    const refs = value === undefined ? [] : Array.isArray(value) ? value : [value];
    refs.forEach((ref, i) => {
      const upload = ref.startsWith(ASSET_URI_PREFIX) ? uploadOf(state, ref) : undefined;
      if (upload?.dimensions === undefined) {
        unmeasured.add(field);
        return;
      }
      measures.push({
        field,
        index: Array.isArray(value) ? i : undefined,
        kind: upload.kind,
        contentType: upload.contentType,
        bytes: upload.byteSize,
        ...upload.dimensions,
      });
    });
  }
  const breaks = mediaRuleBreaks(measures, unmeasured);
  if (breaks.length === 0) return;
  const details: Record<string, string[]> = {};
  for (const rule of breaks) {
    const path = `seedanceParams.${rule.fields[0].replace(/\[(\d+)\]/g, '.$1')}`;
    details[path] = [...(details[path] ?? []), rule.message];
  }
  throw new HttpFailure(400, { error: 'Validation failed', details });
}

export function ownJob(state: SimState, id: string, apiKey: string): SimJob {
  if (!UUID.test(id)) throw new HttpFailure(400, { error: 'Invalid job id' });
  const job = state.jobs.get(id);
  if (job === undefined || job.apiKey !== apiKey) throw new HttpFailure(404, { error: 'Job not found' });
  return job;
}

export function jobJson(state: SimState, job: SimJob) {
  settleRefunds(state);
  const { status, progress, completedAt } = jobStatus(job, state.now());
  const costVisible = (state.options.costVisibleAt ?? 'submit') === 'submit' || status === 'COMPLETED';
  return {
    id: job.id,
    status,
    model: job.input.model,
    progress,
    result: status === 'COMPLETED' ? resultOf(state, job) : null,
    error: status === 'FAILED' ? 'Generation failed: the provider rejected the prompt (simulated)' : null,
    creditCost: status === 'FAILED' ? 0 : costVisible ? job.price : null,
    webhookStatus: null,
    createdAt: new Date(job.createdAt).toISOString(),
    completedAt: completedAt === null ? null : new Date(completedAt).toISOString(),
    expired: false,
    input: job.input as unknown as Record<string, unknown>,
  };
}

function resultOf(state: SimState, job: SimJob): unknown {
  const videoUrl = `${state.url}/files/${job.id}/video.mp4`;
  if (state.options.resultShape === 'string') return videoUrl;
  return job.input.seedanceParams?.return_last_frame === true
    ? { videoUrl, lastFrameUrl: `${state.url}/files/${job.id}/last-frame.png` }
    : { videoUrl };
}

export function listJobs(state: SimState, url: URL, apiKey: string) {
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
  const ordered = [...state.jobs.values()]
    .filter((j) => j.apiKey === apiKey)
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
    .filter(
      (j) => after === undefined || j.createdAt < after[0] || (j.createdAt === after[0] && j.id < after[1]),
    )
    .map((j) => ({ job: j, json: jobJson(state, j) }))
    .filter(
      ({ json }) =>
        (query.status === undefined || json.status === query.status) &&
        (query.model === undefined || json.model === query.model),
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
