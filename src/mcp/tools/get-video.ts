import * as z from 'zod';
import { jobUpdate } from '../../jobs/service.js';
import { PLAYER_URI } from '../resources.js';
import { defineTool } from './define.js';
import { VideoOutput } from './shapes.js';
import { videoResult, type WaitLimits, waitSecondsField } from './video-result.js';

export function getVideoTool(limits: WaitLimits) {
  return defineTool({
    name: 'get_video',
    title: 'Get a video',
    description: 'Waits up to wait_seconds for a job: status, cost, saved MP4. Free.',
    input: z.strictObject({
      job_id: z
        .uuid({ error: 'must be a job id (a UUID) as returned by generate_video or list_videos' })
        .describe('From generate_video or list_videos.'),
      wait_seconds: waitSecondsField(limits),
    }),
    output: VideoOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    taskSupport: 'optional',
    uiResourceUri: PLAYER_URI,
    async handler(args, ctx) {
      const { ledger, client } = ctx.services;
      let record = await ledger.findByJobId(args.job_id);
      if (record === undefined) {
        // Not submitted through this ledger: look it up upstream (a 404 says it is not this account's) and record it.
        const job = await client.getJob(args.job_id, { signal: ctx.signal });
        record = await ledger.recordDiscovered(job.id, jobUpdate(job));
      }
      return videoResult(record, 'existing', args.wait_seconds, [], ctx);
    },
  });
}
