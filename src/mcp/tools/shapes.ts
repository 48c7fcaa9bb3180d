/**
 * Output pieces shared by several tools: the budget, the account balance, and the result of a video job (used by
 * generate_video and get_video alike). Kept lean: every byte of an output schema is read by the model in every
 * prompt.
 */
import { pathToFileURL } from 'node:url';
import * as z from 'zod';
import type { Balance } from '../../apiframe/account.js';
import type { Job } from '../../apiframe/schemas.js';
import { BUDGET_PERIODS } from '../../domain/budget.js';
import type { BudgetSnapshot, DownloadedFile, JobRecord, LedgerStatus } from '../../ledger/types.js';

export const BudgetOutput = z
  .object({
    limit: z.number().nullable(),
    period: z.enum(BUDGET_PERIODS),
    period_start: z.string().nullable(),
    spent: z.number(),
    reserved: z.number(),
    remaining: z.number().nullable(),
  })
  .nullable();

export const BalanceOutput = z.object({
  credits: z.number().nullable(),
  plan: z.string().nullable(),
  unavailable: z.string().nullable(),
});

/** null when no budget is set: the figures are then only informative. */
export function budgetOutput(budget: BudgetSnapshot): z.output<typeof BudgetOutput> {
  if (budget.limit === null) return null;
  return {
    limit: budget.limit,
    period: budget.period,
    period_start: budget.periodStart,
    spent: budget.spent,
    reserved: budget.reserved,
    remaining: budget.remaining,
  };
}

export function balanceOutput(balance: Balance): z.output<typeof BalanceOutput> {
  return { credits: balance.credits, plan: balance.plan, unavailable: balance.unavailable };
}

const FileOutput = z.object({
  path: z.string(),
  file_uri: z.string(),
  bytes: z.number(),
  sha256: z.string(),
});

export const VIDEO_STATUSES = [
  'submitting',
  'rejected',
  'queued',
  'processing',
  'completed',
  'failed',
  'cancelled',
] as const;
export type VideoStatus = (typeof VIDEO_STATUSES)[number];

/** Ledger statuses as agents see them: lower case, like every other value they handle. */
export function videoStatus(status: LedgerStatus): VideoStatus {
  return status === 'submitting' || status === 'rejected' ? status : (status.toLowerCase() as VideoStatus);
}

export function ledgerStatus(status: VideoStatus): LedgerStatus {
  return status === 'submitting' || status === 'rejected' ? status : (status.toUpperCase() as LedgerStatus);
}

export const VideoOutput = z.object({
  job_id: z.string().nullable(),
  status: z.enum(VIDEO_STATUSES),
  progress: z.number().nullable(),
  simulated: z.boolean(),
  /** submitted: new job; resumed: an unanswered earlier POST repeated; attached: an identical job reused; existing: looked up. */
  submission: z.enum(['submitted', 'resumed', 'attached', 'existing']),
  prompt: z.string(),
  params: z.record(z.string(), z.unknown()),
  cost: z.object({
    /** Null for a job this server did not submit (found by get_video): its price was never estimated here. */
    estimated_credits: z.number().nullable(),
    charged_credits: z.number().nullable(),
    variant: z.string().nullable(),
    credits_per_second: z.number().nullable(),
    duration_seconds: z.number().nullable(),
    refunded: z.boolean(),
    /** False when this call reused a job: no new charge. */
    new_charge: z.boolean(),
  }),
  budget: BudgetOutput,
  balance: BalanceOutput,
  video: FileOutput.nullable(),
  last_frame: FileOutput.nullable(),
  remote_url: z.string().nullable(),
  remote_last_frame_url: z.string().nullable(),
  remote_urls_expire_at: z.string().nullable(),
  elapsed_seconds: z.number(),
  next_step: z.string().nullable(),
  failure: z.string().nullable(),
  warnings: z.array(z.string()),
});
export type VideoOutput = z.output<typeof VideoOutput>;

/** Upstream keeps result files about 24 h after completion (Apiframe's spec). */
const RESULT_RETENTION_MS = 24 * 60 * 60 * 1000;

function fileOutput(file: DownloadedFile | undefined): z.output<typeof FileOutput> | null {
  if (file === undefined) return null;
  return { path: file.path, file_uri: pathToFileURL(file.path).href, bytes: file.bytes, sha256: file.sha256 };
}

export interface VideoOutputInput {
  record: JobRecord;
  job: Job | undefined;
  submission: VideoOutput['submission'];
  budget: BudgetSnapshot;
  balance: Balance;
  simulated: boolean;
  startedAt: number;
  now: number;
  warnings: string[];
}

export function videoOutput(input: VideoOutputInput): VideoOutput {
  const { record, job } = input;
  const status = videoStatus(record.status);
  const video = record.downloads.find((f) => f.kind === 'video');
  const lastFrame = record.downloads.find((f) => f.kind === 'last_frame');
  const completedAt = job?.completedAt ?? null;
  const warnings = [...input.warnings];
  const charged = record.charged;
  const estimated = record.estimate;
  if (status === 'completed' && charged !== null && estimated !== null && charged !== estimated.credits) {
    warnings.push(
      `Price drift: estimated ${estimated.credits} credits, Apiframe charged ${charged}. The price table may be out of date (SEEDANCE_PRICES_FILE overrides it).`,
    );
  }
  let nextStep: string | null = null;
  if (status === 'queued' || status === 'processing' || status === 'submitting') {
    nextStep = `The video is still rendering. Do not call generate_video again: call get_video with job_id "${record.jobId}" (wait_seconds up to the limit) to wait for it.`;
  } else if (status === 'completed' && video === undefined) {
    nextStep = `The video is ready upstream but not saved locally; call get_video with job_id "${record.jobId}" to download it.`;
  }
  return {
    job_id: record.jobId,
    status,
    progress: job?.progress ?? record.progress,
    simulated: input.simulated,
    submission: input.submission,
    prompt: record.request.prompt,
    params: { ...(record.request.seedanceParams ?? {}) },
    cost: {
      estimated_credits: estimated?.credits ?? null,
      charged_credits: charged,
      variant: estimated?.variant ?? null,
      credits_per_second: estimated?.creditsPerSecond ?? null,
      duration_seconds: estimated?.duration ?? null,
      refunded: record.refunded,
      new_charge: input.submission === 'submitted' || input.submission === 'resumed',
    },
    budget: budgetOutput(input.budget),
    balance: balanceOutput(input.balance),
    video: fileOutput(video),
    last_frame: fileOutput(lastFrame),
    remote_url: record.result?.videoUrl ?? null,
    remote_last_frame_url: record.result?.lastFrameUrl ?? null,
    remote_urls_expire_at:
      completedAt === null ? null : new Date(Date.parse(completedAt) + RESULT_RETENTION_MS).toISOString(),
    elapsed_seconds: Math.round((input.now - input.startedAt) / 100) / 10,
    next_step: nextStep,
    failure: record.failure,
    warnings,
  };
}

/** One or two lines a person can read, beside the structured result. */
export function videoSummary(out: VideoOutput): string {
  const cost =
    out.cost.charged_credits !== null
      ? `${out.cost.charged_credits} credits charged`
      : out.cost.estimated_credits !== null
        ? `${out.cost.estimated_credits} credits estimated`
        : 'cost not yet reported';
  const sim = out.simulated ? ' [simulated]' : '';
  const budget = out.budget === null ? '' : `; budget left ${out.budget.remaining}/${out.budget.limit}`;
  switch (out.status) {
    case 'completed':
      return out.video !== null
        ? `Video ready${sim}: ${out.video.path} (${cost}${budget}).`
        : `Video ready upstream${sim} but not saved: ${out.remote_url ?? 'no URL'} (${cost}${budget}). ${out.warnings.join(' ')}`;
    case 'failed':
    case 'cancelled':
      return `Job ${out.job_id} ${out.status.toUpperCase()}${sim}: ${out.failure ?? 'no reason given'}. ${out.cost.refunded ? 'The credits were refunded.' : 'Apiframe refunds failed jobs in full; the refund is not confirmed yet.'}`;
    default:
      return `Job ${out.job_id} is ${out.status}${out.progress === null ? '' : ` (${out.progress}%)`}${sim} (${cost}${budget}). ${out.next_step ?? ''}`;
  }
}
