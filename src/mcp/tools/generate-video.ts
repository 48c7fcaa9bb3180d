import { readFile } from 'node:fs/promises';
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { Job } from '../../apiframe/schemas.js';
import type { Services } from '../../app/services.js';
import { InvalidArgumentsError } from '../../core/errors.js';
import { log } from '../../core/log.js';
import {
  agentParamFields,
  crossFieldWarnings,
  fieldIssues,
  LIMITS,
  promptSchema,
  WireSeedanceParams,
} from '../../domain/params.js';
import { cheaperOptions, estimate } from '../../domain/pricing.js';
import { resolveMediaRefs } from '../../inputs/assets.js';
import { MaxCreditsExceededError } from '../../jobs/service.js';
import type { JobRecord } from '../../ledger/types.js';
import { PLAYER_URI, resourceUri } from '../resources.js';
import { defineTool, type ToolContext, type ToolResult } from './define.js';
import { type VideoOutput, VideoOutput as VideoOutputSchema, videoOutput, videoSummary } from './shapes.js';

/** However short wait_seconds, a completed job's files get this long to be saved before the answer goes. */
const SAVE_GRACE_MS = 2_000;

/** The promise's value, or undefined once `ms` pass or the caller cancels (the promise itself runs on). */
function until<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      resolve(undefined);
    };
    const timer = setTimeout(stop, ms);
    signal.addEventListener('abort', stop, { once: true });
    promise.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', stop);
        reject(error);
      },
    );
  });
}

/** A last frame at most this large is also returned inline as an image, for clients that show previews. */
const PREVIEW_MAX_BYTES = 512 * 1024;

export interface WaitLimits {
  waitSeconds: number;
  maxWaitSeconds: number;
}

export function waitSecondsField(limits: WaitLimits) {
  return z.int().min(0).max(limits.maxWaitSeconds).default(limits.waitSeconds);
}

export function generateVideoTool(limits: WaitLimits) {
  const input = z.strictObject({
    prompt: promptSchema,
    ...agentParamFields,
    max_credits: z.int().min(1).optional().describe('Refuse if it would cost more.'),
    wait_seconds: waitSecondsField(limits),
    idempotency_key: z
      .string()
      .min(1)
      .max(LIMITS.idempotencyKey - 20)
      .optional()
      .describe('Same key: never paid twice.'),
    new_job: z.boolean().default(false).describe('Pay again, not reuse an identical request.'),
  });

  return defineTool({
    name: 'generate_video',
    title: 'Generate a video',
    description: [
      'Makes a Seedance 2.0 MP4. COSTS CREDITS (see estimate_cost); refused over max_credits or budget.',
      'Not done in wait_seconds: status "processing" and job_id; then call get_video, not generate_video again.',
      'Identical requests within 24 h reuse the job.',
    ].join(' '),
    input,
    output: VideoOutputSchema,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    taskSupport: 'optional',
    uiResourceUri: PLAYER_URI,
    async handler(args, ctx) {
      const { prompt, max_credits, wait_seconds, idempotency_key, new_job, ...agentParams } = args;
      const { services } = ctx;
      const warnings = crossFieldWarnings(agentParams).map((w) => w.message);
      const price = estimate(agentParams, services.prices);
      if (max_credits !== undefined && price.credits > max_credits) {
        throw new MaxCreditsExceededError(
          price,
          max_credits,
          cheaperOptions(agentParams, max_credits, services.prices),
        );
      }
      const scope = await ctx.accessScope();
      let stage = 0;
      const resolved = await resolveMediaRefs(agentParams, services.assets, {
        signal: ctx.signal,
        scope,
        progress: (message) => ctx.progress({ percent: Math.min(4, ++stage * 0.5), message }),
      });
      const params = WireSeedanceParams.safeParse(resolved);
      if (!params.success) {
        throw new InvalidArgumentsError(fieldIssues(params.error));
      }
      const submission = await services.jobs.submit(
        { prompt, params: params.data, estimate: price, idempotencyKey: idempotency_key, newJob: new_job },
        ctx.signal,
      );
      if (submission.kind === 'attached') {
        warnings.push(
          `An identical request already has job ${submission.record.jobId}; it was reused, not paid again. Pass new_job: true for another take.`,
        );
      }
      return followJob(submission.record, submission.kind, wait_seconds, warnings, ctx);
    },
  });
}

/**
 * Waits for a job up to `waitSeconds`, sending progress on each poll; then finishes it (settle, download) or leaves
 * it to finish in the background. Shared with get_video.
 */
export async function followJob(
  initial: JobRecord,
  submission: VideoOutput['submission'],
  waitSeconds: number,
  warnings: string[],
  ctx: ToolContext,
): Promise<ToolResult<VideoOutput>> {
  const { services } = ctx;
  let record = initial;
  let job: Job | undefined;
  const jobId = record.jobId;
  if (jobId !== null) {
    // Counted from the start of the call: uploads and the submission have already used part of the client's patience.
    const deadline = ctx.startedAt + waitSeconds * 1000;
    const waited = await services.jobs
      .waitFor(
        jobId,
        Math.max(0, deadline - services.now()),
        (update) =>
          ctx.progress({
            percent: 5 + (update.progress ?? 0) * 0.9,
            message: `${update.status} ${update.progress ?? 0}%`,
          }),
        ctx.signal,
      )
      .catch((error: unknown) => {
        // The caller stopped listening (cancelled, or polling failed): the paid job must still be settled and saved.
        services.jobs.finishInBackground(jobId);
        throw error;
      });
    job = waited.job;
    if (job !== undefined && !waited.timedOut) {
      // The files are saved whatever happens; the answer waits for them only until the deadline (a slow CDN must
      // not hold the call past the time the client gives it).
      const saving = services.jobs.finish(job);
      const finished = await until(saving, Math.max(deadline - services.now(), SAVE_GRACE_MS), ctx.signal);
      if (finished === undefined) {
        saving.catch((error: unknown) => log.warn('saving a video failed', { jobId, error: String(error) }));
        record = (await services.ledger.findByJobId(jobId)) ?? record;
        warnings.push(
          `The video is still being saved (a slow download); call get_video with job_id "${jobId}" in a moment for the file.`,
        );
      } else {
        record = finished.record;
        if (finished.downloadError !== undefined) {
          warnings.push(`${finished.downloadError.message} ${finished.downloadError.recovery}`);
        }
      }
    } else {
      services.jobs.finishInBackground(jobId);
      record = (await services.ledger.findByJobId(jobId)) ?? record;
    }
  }
  return videoResult(record, job, submission, warnings, services, ctx.startedAt);
}

/**
 * The answer about a job as it stands: the structured result, its summary, links to the saved files and a preview.
 * Also what a task's tasks/result returns, from the ledger alone.
 */
export async function videoResult(
  record: JobRecord,
  job: Job | undefined,
  submission: VideoOutput['submission'],
  warnings: string[],
  services: Services,
  startedAt: number,
): Promise<ToolResult<VideoOutput>> {
  const [budget, balance] = await Promise.all([services.ledger.budget(), services.account.balance()]);
  const structured = videoOutput({
    record,
    job,
    submission,
    budget,
    balance,
    simulated: services.simulated,
    startedAt,
    now: services.now(),
    warnings,
  });
  const content: ContentBlock[] = [];
  if (structured.video !== null && record.jobId !== null) {
    // The seedance:// URI is readable over MCP (resources/read); the path is for a client on this machine.
    content.push({
      type: 'resource_link',
      uri: resourceUri(record.jobId, 'video'),
      name: structured.video.path.split(/[\\/]/).pop() ?? 'video.mp4',
      mimeType: 'video/mp4',
      description: `Seedance 2.0 video, ${structured.cost.duration_seconds} s, saved at ${structured.video.path}`,
      size: structured.video.bytes,
    } as ContentBlock);
  }
  if (structured.last_frame !== null && record.jobId !== null) {
    content.push({
      type: 'resource_link',
      uri: resourceUri(record.jobId, 'last_frame'),
      name: structured.last_frame.path.split(/[\\/]/).pop() ?? 'last-frame.png',
      mimeType: 'image/png',
      description: `Last frame, saved at ${structured.last_frame.path}`,
      size: structured.last_frame.bytes,
    } as ContentBlock);
  }
  if (structured.last_frame !== null && structured.last_frame.bytes <= PREVIEW_MAX_BYTES) {
    const data = await readFile(structured.last_frame.path).catch(() => undefined);
    if (data !== undefined)
      content.push({ type: 'image', data: data.toString('base64'), mimeType: 'image/png' });
  }
  return {
    structured,
    // The URI names the job too: a host that gives the player view only the text still lets it find the video.
    text:
      structured.video !== null && record.jobId !== null
        ? `${videoSummary(structured)} Also at ${resourceUri(record.jobId, 'video')}.`
        : videoSummary(structured),
    content,
    isError: structured.status === 'failed' || structured.status === 'cancelled',
  };
}
