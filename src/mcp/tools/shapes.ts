/**
 * Output pieces shared by several tools: the budget, the account balance, and the result of a video job (used by
 * generate_video and get_video alike). Kept lean: every byte of an output schema is read by the model in every
 * prompt.
 */
import { pathToFileURL } from 'node:url';
import * as z from 'zod';
import type { Balance } from '../../apiframe/account.js';
import { type Job, RESULT_RETENTION_MS } from '../../apiframe/schemas.js';
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
    model: z.string(),
    variant: z.string().nullable(),
    credits_per_second: z.number().nullable(),
    /** published, learned, or bounded (no rate known: max_credits reserved until the charge). Null as above. */
    rate_source: z.string().nullable(),
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
  /** The longest wait_seconds a call may ask for: next_step names it. */
  maxWaitSeconds: number;
  warnings: string[];
}

/** Most MCP clients give up on a tool call after about this long, whatever the server does. */
const CLIENT_PATIENCE_SECONDS = 60;

export function videoOutput(input: VideoOutputInput): VideoOutput {
  const { record, job } = input;
  const status = videoStatus(record.status);
  const video = record.downloads.find((f) => f.kind === 'video');
  const lastFrame = record.downloads.find((f) => f.kind === 'last_frame');
  const completedAt = job?.completedAt ?? null;
  const warnings = [...input.warnings, ...record.upstreamAnomalies];
  const charged = record.charged;
  const estimated = record.estimate;
  if (status === 'completed' && charged !== null && estimated?.source === 'bounded') {
    warnings.push(
      `No rate was known for ${estimated.model} ${estimated.variant}: ${estimated.credits} credits were reserved, Apiframe charged ${charged}. The rate is learned now; later estimates use it.`,
    );
  } else if (
    status === 'completed' &&
    charged !== null &&
    estimated !== null &&
    charged !== estimated.credits
  ) {
    warnings.push(
      `Price drift: estimated ${estimated.credits} credits, Apiframe charged ${charged}. The price table may be out of date (SEEDANCE_PRICES_FILE overrides it).`,
    );
  }
  let nextStep: string | null = null;
  if (status === 'queued' || status === 'processing' || status === 'submitting') {
    nextStep = `The video is still rendering. Do not call generate_video again: call get_video with job_id "${record.jobId}" to wait for it (wait_seconds up to ${input.maxWaitSeconds}; most clients give up on a call after about ${CLIENT_PATIENCE_SECONDS} s, so ask for less than that).`;
  } else if (status === 'completed' && video === undefined) {
    nextStep = `The video is ready upstream but not saved locally; call get_video with job_id "${record.jobId}" to download it.`;
  } else if (status === 'completed' && lastFrame !== undefined) {
    nextStep = `To continue the scene, call generate_video with start_image: "${lastFrame.path}".`;
  }
  return {
    job_id: record.jobId,
    status,
    progress: status === 'completed' ? 100 : (job?.progress ?? record.progress),
    simulated: input.simulated,
    submission: input.submission,
    prompt: record.request.prompt,
    params: { ...(record.request.seedanceParams ?? {}) },
    cost: {
      estimated_credits: estimated?.credits ?? null,
      charged_credits: charged,
      model: record.request.model,
      variant: estimated?.variant ?? null,
      credits_per_second: estimated?.creditsPerSecond ?? null,
      // Records made before rates had sources were priced from the published table.
      rate_source: estimated === null ? null : (estimated.source ?? 'published'),
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

/**
 * The text block: many clients show the model this and not the structured content, so it carries everything an
 * agent acts on (the job, what this call paid, the budget, the files, every warning, the next call) in a few lines.
 */
export function videoSummary(out: VideoOutput): string {
  const sim = out.simulated ? ' [simulated]' : '';
  const progress = out.status === 'completed' || out.progress === null ? '' : ` (${out.progress}%)`;
  const failed = out.status === 'failed' || out.status === 'cancelled';
  const status = failed ? out.status.toUpperCase() : out.status;
  const lines = [`Job ${out.job_id ?? '(not submitted)'}: ${status}${progress}${sim}.`];
  const price =
    out.cost.charged_credits !== null
      ? `${out.cost.charged_credits} credits charged`
      : out.cost.estimated_credits !== null
        ? `${out.cost.estimated_credits} credits (estimate; charged when it completes)`
        : 'cost not reported';
  if (out.submission === 'attached') {
    lines.push(
      `Reused: an identical request already had this job, so this call charged nothing now (the job: ${price}). Pass new_job: true for another take.`,
    );
  } else if (out.submission === 'existing') {
    lines.push(`Looked up: this call charged nothing (the job: ${price}).`);
  } else {
    lines.push(`This call paid for a new job: ${price}.`);
  }
  if (out.cost.refunded) lines.push('The credits were refunded (the job failed).');
  else if (failed) lines.push('Apiframe refunds failed jobs in full; the refund is not confirmed yet.');
  const money = [
    out.budget === null
      ? 'No budget set'
      : `Budget left ${out.budget.remaining} of ${out.budget.limit} credits`,
    out.balance.credits === null ? undefined : `account balance ${out.balance.credits} credits`,
  ].filter((s) => s !== undefined);
  lines.push(`${money.join('; ')}.`);
  if (out.video !== null) lines.push(`Video: ${out.video.path}`);
  else if (out.remote_url !== null) lines.push(`Video (remote, not saved): ${out.remote_url}`);
  if (out.last_frame !== null) lines.push(`Last frame: ${out.last_frame.path}`);
  if (out.failure !== null) lines.push(`Failure: ${out.failure}`);
  for (const warning of out.warnings) lines.push(`Warning: ${warning}`);
  if (out.next_step !== null) lines.push(`Next: ${out.next_step}`);
  return lines.join('\n');
}
