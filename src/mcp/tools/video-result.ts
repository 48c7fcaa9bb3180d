/** The answer of generate_video and get_video: a job followed until the call's deadline, as the agent sees it. */
import { readFile } from 'node:fs/promises';
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { JobRecord } from '../../ledger/types.js';
import type { ToolContext, ToolResult } from './define.js';
import { type VideoOutput, videoOutput, videoSummary } from './shapes.js';

/** A last frame at most this large is also returned inline as an image, for clients that show previews. */
const PREVIEW_MAX_BYTES = 512 * 1024;

export interface WaitLimits {
  waitSeconds: number;
  maxWaitSeconds: number;
}

export function waitSecondsField(limits: WaitLimits) {
  return z.int().min(0).max(limits.maxWaitSeconds).default(limits.waitSeconds);
}

/**
 * Follows a job up to `waitSeconds` (counted from the start of the call), sending progress on each poll, and
 * answers with where it stands: the result of generate_video and get_video alike.
 */
export async function videoResult(
  initial: JobRecord,
  submission: VideoOutput['submission'],
  waitSeconds: number,
  warnings: string[],
  ctx: ToolContext,
): Promise<ToolResult<VideoOutput>> {
  const { services } = ctx;
  // Counted from the start of the call: uploads and the submission have already used part of the client's patience.
  const deadline = ctx.startedAt + waitSeconds * 1000;
  const { record, job, stillSaving, downloadError } = await services.jobs.follow(
    initial,
    deadline,
    (update) =>
      ctx.progress({
        percent: 5 + (update.progress ?? 0) * 0.9,
        message: `${update.status} ${update.progress ?? 0}%`,
      }),
    ctx.signal,
  );
  if (stillSaving) {
    warnings.push(
      `The video is still being saved (a slow download); call get_video with job_id "${record.jobId}" in a moment for the file.`,
    );
  }
  if (downloadError !== undefined) warnings.push(`${downloadError.message} ${downloadError.recovery}`);
  const [budget, balance] = await Promise.all([services.ledger.budget(), services.account.balance()]);
  const structured = videoOutput({
    record,
    job,
    submission,
    budget,
    balance,
    simulated: services.simulated,
    startedAt: ctx.startedAt,
    now: services.now(),
    warnings,
  });
  const content: ContentBlock[] = [];
  if (structured.video !== null) {
    content.push({
      type: 'resource_link',
      uri: structured.video.file_uri,
      name: structured.video.path.split(/[\\/]/).pop() ?? 'video.mp4',
      mimeType: 'video/mp4',
      description: `Seedance 2.0 video, ${structured.cost.duration_seconds} s`,
      size: structured.video.bytes,
    } as ContentBlock);
  }
  if (structured.last_frame !== null && structured.last_frame.bytes <= PREVIEW_MAX_BYTES) {
    const data = await readFile(structured.last_frame.path).catch(() => undefined);
    if (data !== undefined)
      content.push({ type: 'image', data: data.toString('base64'), mimeType: 'image/png' });
  }
  return {
    structured,
    text: videoSummary(structured),
    content,
    isError: structured.status === 'failed' || structured.status === 'cancelled',
  };
}
