/** The answer of generate_video and get_video: a job followed until the call's deadline, as the agent sees it. */
import type { ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { Job } from '../../apiframe/schemas.js';
import type { Services } from '../../app/services.js';
import type { JobRecord } from '../../ledger/types.js';
import { resourceUri } from '../resources.js';
import type { ToolContext, ToolResult } from './define.js';
import { thumbnail } from './preview.js';
import { type VideoOutput, videoOutput, videoSummary } from './shapes.js';

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
  const answer = await videoAnswer(record, job, submission, warnings, services, ctx.startedAt);
  if (answer.structured.status === 'completed') ctx.progress({ percent: 100, message: 'completed' });
  return answer;
}

/**
 * The answer about a job as it stands: the structured result, its summary, links to the saved files and a preview.
 * Also what a task's tasks/result returns, from the ledger alone (mcp/tasks.ts).
 */
export async function videoAnswer(
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
    maxWaitSeconds: services.config.maxWaitSeconds,
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
  // A thumbnail only: the whole frame (megabytes at 1080p) would flood the model's context.
  const preview = structured.last_frame === null ? undefined : await thumbnail(structured.last_frame.path);
  if (preview !== undefined)
    content.push({ type: 'image', data: preview.toString('base64'), mimeType: 'image/jpeg' });
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
