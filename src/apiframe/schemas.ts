/**
 * The shapes the client accepts from Apiframe: the spec's response schemas, read leniently (extra fields pass, and
 * fields the docs disagree about are optional), so a harmless addition upstream does not break a paid job.
 */
import * as z from 'zod';
import { MEDIA_KINDS } from '../domain/params.js';

export const JOB_STATUSES = ['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export const JobAcceptedSchema = z.looseObject({
  jobId: z.string().min(1),
  status: z.enum(JOB_STATUSES),
});

export const JobSchema = z.looseObject({
  id: z.string().min(1),
  status: z.enum(JOB_STATUSES),
  model: z.string().optional(),
  progress: z.number().nullable().optional(),
  result: z.unknown().optional(),
  error: z.string().nullable().optional(),
  creditCost: z.number().nullable().optional(),
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

export interface JobResult {
  videoUrl: string | undefined;
  lastFrameUrl: string | undefined;
  /** The result as Apiframe sent it: a URL string in older docs, an object in newer ones. */
  raw: unknown;
}

export interface Job {
  id: string;
  status: JobStatus;
  progress: number | null;
  result: JobResult | undefined;
  error: string | null;
  creditCost: number | null;
  createdAt: string | undefined;
  completedAt: string | null;
  expired: boolean;
  /** The prompt, when Apiframe echoes the job's input. */
  prompt: string | null;
}

const LAST_FRAME_KEYS = ['lastFrameUrl', 'last_frame_url', 'lastFrame', 'last_frame'] as const;
const VIDEO_KEYS = ['videoUrl', 'video_url', 'url', 'video'] as const;

function firstString(record: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = record[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

export function normaliseResult(raw: unknown): JobResult | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string') return { videoUrl: raw, lastFrameUrl: undefined, raw };
  if (typeof raw === 'object' && !Array.isArray(raw)) {
    const record = raw as Record<string, unknown>;
    return {
      videoUrl: firstString(record, VIDEO_KEYS),
      lastFrameUrl: firstString(record, LAST_FRAME_KEYS),
      raw,
    };
  }
  return { videoUrl: undefined, lastFrameUrl: undefined, raw };
}

export function normaliseJob(raw: RawJob): Job {
  return {
    id: raw.id,
    status: raw.status,
    progress: raw.progress ?? null,
    result: normaliseResult(raw.result),
    error: raw.error ?? null,
    creditCost: raw.creditCost ?? null,
    createdAt: raw.createdAt,
    completedAt: raw.completedAt ?? null,
    expired: raw.expired ?? false,
    prompt: typeof raw.input?.prompt === 'string' ? raw.input.prompt : null,
  };
}
