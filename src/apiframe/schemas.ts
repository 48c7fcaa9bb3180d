/**
 * The shapes the client accepts from Apiframe: the spec's response schemas, read leniently (extra fields pass, and
 * fields the docs disagree about are optional), so a harmless addition upstream does not break a paid job.
 */
import * as z from 'zod';
import { stripControls } from '../core/redact.js';
import { LIMITS, MEDIA_KINDS } from '../domain/params.js';

export const JOB_STATUSES = ['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export const JobAcceptedSchema = z.looseObject({
  // The spec's job ids are UUIDs; get_video and the webhook receiver accept nothing else, so nothing else is kept.
  jobId: z.uuid(),
  status: z.enum(JOB_STATUSES),
});

export const JobSchema = z.looseObject({
  id: z.uuid(),
  status: z.enum(JOB_STATUSES),
  model: z.string().optional(),
  progress: z.number().nullable().optional(),
  result: z.unknown().optional(),
  error: z.string().nullable().optional(),
  // Any value is read; normaliseJob keeps only a number of credits, so a hostile one cannot fail a paid job's poll.
  creditCost: z.unknown().optional(),
  createdAt: z.string().optional(),
  completedAt: z.string().nullable().optional(),
  expired: z.boolean().optional(),
  input: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type RawJob = z.output<typeof JobSchema>;

export const JobListSchema = z.looseObject({
  jobs: z.array(JobSchema),
  nextCursor: z.string().nullable().optional(),
  hasMore: z.boolean().optional(),
});

export const UploadSchema = z.looseObject({
  id: z.string().min(1),
  url: z.string().min(1),
  kind: z.enum(MEDIA_KINDS),
  contentType: z.string(),
  byteSize: z.number(),
  expiresAt: z.string(),
});
export type Upload = z.output<typeof UploadSchema>;

export const AssetCreatedSchema = z.looseObject({ assetId: z.string().min(1) });

/** The provider's asset object is opaque; only its status, and a failure message, matter here. */
export const AssetSchema = z.looseObject({
  status: z.string().optional(),
  url: z.string().nullable().optional(),
  errorMsg: z.string().nullable().optional(),
});

export const MeSchema = z.looseObject({
  user: z.looseObject({ id: z.string(), email: z.string().optional() }).nullable().optional(),
  team: z
    .looseObject({
      credits: z.number(),
      plan: z.string().optional(),
      maxConcurrentJobs: z.number().optional(),
    })
    .nullable(),
  apiKey: z.unknown().optional(),
});
export type Me = z.output<typeof MeSchema>;

/** `GET /v2/models`: Apiframe's curated catalog, loose by design (the spec allows extra fields). */
export const ModelCatalogSchema = z.looseObject({
  models: z.array(
    z.looseObject({
      id: z.string(),
      label: z.string(),
      modality: z.string(),
      costMin: z.number().optional(),
      costMax: z.number().optional(),
      pricingMode: z.string().optional(),
    }),
  ),
});
export type ModelCatalog = z.output<typeof ModelCatalogSchema>;

export interface JobResult {
  /** Only an absolute http(s) URL; anything else Apiframe gives is dropped (see Job.anomalies). */
  videoUrl: string | undefined;
  lastFrameUrl: string | undefined;
  /**
   * The result as Apiframe sent it (a URL string in older docs, an object in newer ones), or, when its JSON is over
   * MAX_RAW_RESULT_BYTES, only `{ cut: true, bytes }`: it is stored in the ledger with every job.
   */
  raw: unknown;
}

export interface Job {
  id: string;
  status: JobStatus;
  progress: number | null;
  result: JobResult | undefined;
  /** Apiframe's words, control characters made spaces and cut to MAX_UPSTREAM_TEXT. */
  error: string | null;
  /** A finite number >= 0, or null: anything else Apiframe reports is dropped (see anomalies). */
  creditCost: number | null;
  createdAt: string | undefined;
  completedAt: string | null;
  expired: boolean;
  /** The prompt, when Apiframe echoes the job's input (control characters made spaces, cut to the prompt limit). */
  prompt: string | null;
  /** What was dropped or cut from Apiframe's answer, in words fit for the agent. */
  anomalies: string[];
}

/** Upstream text longer than this (an error message) is cut: it goes into results, logs and the ledger. */
export const MAX_UPSTREAM_TEXT = 1_000;
/** A result URL longer than this is not a URL anybody should fetch or store. */
const MAX_URL = 2_048;
/** The JSON of a result kept in the ledger at most; a larger one is replaced by a note of its size. */
export const MAX_RAW_RESULT_BYTES = 16 * 1024;

function upstreamText(text: string, max: number): string {
  const clean = stripControls(text);
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

const LAST_FRAME_KEYS = ['lastFrameUrl', 'last_frame_url', 'lastFrame', 'last_frame'] as const;
const VIDEO_KEYS = ['videoUrl', 'video_url', 'url', 'video'] as const;

/** The first of `keys` holding a string, kept only if it is an absolute http(s) URL of sane length. */
function firstUrl(
  record: Record<string, unknown>,
  keys: readonly string[],
  what: string,
  anomalies: string[],
): string | undefined {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === 'string' && value !== '') return httpUrl(value, what, anomalies);
  }
  return undefined;
}

function httpUrl(value: string, what: string, anomalies: string[]): string | undefined {
  const url = value.length <= MAX_URL && URL.canParse(value) ? new URL(value) : undefined;
  // Kept as sent: a signed CDN URL must not be re-encoded.
  if (url !== undefined && (url.protocol === 'https:' || url.protocol === 'http:')) return value;
  const scheme = url === undefined ? 'not an absolute URL' : `scheme ${url.protocol.slice(0, 20)}`;
  anomalies.push(
    `Apiframe gave a ${what} URL that is not http(s) (${stripControls(scheme)}); it was dropped.`,
  );
  return undefined;
}

function normaliseResult(raw: unknown, anomalies: string[] = []): JobResult | undefined {
  if (raw === undefined || raw === null) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(raw) ?? '');
  let kept = raw;
  if (bytes > MAX_RAW_RESULT_BYTES) {
    anomalies.push(`Apiframe's result was ${bytes} bytes; only its URLs were kept.`);
    kept = { cut: true, bytes };
  }
  if (typeof raw === 'string')
    return { videoUrl: httpUrl(raw, 'video', anomalies), lastFrameUrl: undefined, raw: kept };
  if (typeof raw === 'object' && !Array.isArray(raw)) {
    const record = raw as Record<string, unknown>;
    return {
      videoUrl: firstUrl(record, VIDEO_KEYS, 'video', anomalies),
      lastFrameUrl: firstUrl(record, LAST_FRAME_KEYS, 'last frame', anomalies),
      raw: kept,
    };
  }
  return { videoUrl: undefined, lastFrameUrl: undefined, raw: kept };
}

function creditCostOf(value: unknown, anomalies: string[]): number | null {
  if (value === undefined || value === null) return null;
  // The spec's creditCost is an integer; anything else is no amount the ledger may record.
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  const shown = upstreamText(JSON.stringify(value) ?? String(value), 40);
  anomalies.push(
    `Apiframe reported a creditCost that is not a number of credits (${shown}); it was ignored, and the job counts at its estimate.`,
  );
  return null;
}

export function normaliseJob(raw: RawJob): Job {
  const anomalies: string[] = [];
  const prompt = raw.input?.prompt;
  return {
    id: raw.id,
    status: raw.status,
    progress: raw.progress ?? null,
    result: normaliseResult(raw.result, anomalies),
    error: raw.error == null ? null : upstreamText(raw.error, MAX_UPSTREAM_TEXT),
    creditCost: creditCostOf(raw.creditCost, anomalies),
    createdAt: raw.createdAt,
    completedAt: raw.completedAt ?? null,
    expired: raw.expired ?? false,
    prompt: typeof prompt === 'string' ? upstreamText(prompt, LIMITS.prompt.max) : null,
    anomalies,
  };
}

/** Upstream keeps a job's result files about 24 h after completion (Apiframe's spec); past that, they are gone. */
export const RESULT_RETENTION_MS = 24 * 60 * 60 * 1000;
