import * as z from 'zod';
import { InvalidArgumentsError, MaxCreditsExceededError } from '../../core/errors.js';
import {
  AGENT_IDEMPOTENCY_KEY_MAX,
  agentParamFields,
  fieldIssues,
  promptSchema,
  WireSeedanceParams,
  withSeedanceRules,
} from '../../domain/params.js';
import { cheaperOptions, estimate } from '../../domain/pricing.js';
import { resolveMediaRefs } from '../../inputs/assets.js';
import { PLAYER_URI } from '../resources.js';
import { defineTool } from './define.js';
import { VideoOutput } from './shapes.js';
import { videoResult, type WaitLimits, waitSecondsField } from './video-result.js';

export function generateVideoTool(limits: WaitLimits) {
  const input = withSeedanceRules(
    z.strictObject({
      prompt: promptSchema,
      ...agentParamFields,
      max_credits: z.int().min(1).optional().describe('Refuse if it would cost more.'),
      wait_seconds: waitSecondsField(limits),
      idempotency_key: z
        .string()
        .min(1)
        .max(AGENT_IDEMPOTENCY_KEY_MAX)
        .optional()
        .describe('Same key: never paid twice.'),
      new_job: z.boolean().default(false).describe('Pay again, not reuse an identical request.'),
    }),
  );

  return defineTool({
    name: 'generate_video',
    title: 'Generate a video',
    description: [
      'Makes a Seedance 2.0 MP4. COSTS CREDITS (see estimate_cost); refused over max_credits or budget.',
      'Unfinished after wait_seconds: status "processing" + job_id; then call get_video, not generate_video.',
      'Identical requests within 24 h reuse it.',
    ].join(' '),
    input,
    output: VideoOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    taskSupport: 'optional',
    uiResourceUri: PLAYER_URI,
    async handler(args, ctx) {
      const { prompt, max_credits, wait_seconds, idempotency_key, new_job, ...agentParams } = args;
      const { services } = ctx;
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
      const warnings = resolved.warnings;
      const params = WireSeedanceParams.safeParse(resolved.params);
      if (!params.success) {
        throw new InvalidArgumentsError(fieldIssues(params.error));
      }
      const submission = await services.jobs.submit(
        {
          prompt,
          params: params.data,
          estimate: price,
          idempotencyKey: idempotency_key,
          newJob: new_job,
          member: ctx.session.member,
        },
        ctx.signal,
      );
      return videoResult(submission.record, submission.kind, wait_seconds, warnings, ctx);
    },
  });
}
