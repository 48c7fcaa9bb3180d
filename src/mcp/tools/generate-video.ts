import * as z from 'zod';
import { InvalidArgumentsError, MaxCreditsExceededError } from '../../core/errors.js';
import {
  AGENT_IDEMPOTENCY_KEY_MAX,
  agentParamFields,
  fieldIssues,
  modelField,
  promptSchema,
  WireSeedanceParams,
  withSeedanceRules,
} from '../../domain/params.js';
import { cheaperOptions, reservation } from '../../domain/pricing.js';
import { resolveMediaRefs } from '../../inputs/assets.js';
import { PLAYER_URI } from '../resources.js';
import { defineTool } from './define.js';
import { VideoOutput } from './shapes.js';
import { videoResult, type WaitLimits, waitSecondsField } from './video-result.js';

export function generateVideoTool(limits: WaitLimits) {
  const input = withSeedanceRules(
    z.strictObject({
      prompt: promptSchema,
      model: modelField,
      ...agentParamFields,
      max_credits: z.int().min(1).optional().describe('Cost cap; needed if no rate known.'),
      wait_seconds: waitSecondsField(limits),
      idempotency_key: z
        .string()
        .min(1)
        .max(AGENT_IDEMPOTENCY_KEY_MAX)
        .optional()
        .describe('Same key: never paid twice.'),
      new_job: z.boolean().default(false).describe('Pay again, no reuse.'),
    }),
  );

  return defineTool({
    name: 'generate_video',
    title: 'Generate a video',
    description: [
      'Makes a Seedance MP4. COSTS CREDITS (see estimate_cost); refused over budget.',
      'Unfinished after wait_seconds: status "processing" + job_id; then call get_video, not generate_video.',
      'Identical requests within 24 h reuse it.',
    ].join(' '),
    input,
    output: VideoOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    taskSupport: 'optional',
    uiResourceUri: PLAYER_URI,
    async handler(args, ctx) {
      const { prompt, model, max_credits, wait_seconds, idempotency_key, new_job, ...agentParams } = args;
      const { services } = ctx;
      const priced = { ...agentParams, model };
      const rates = await services.jobs.rates([priced]);
      const price = reservation(priced, rates, max_credits);
      if (max_credits !== undefined && price.credits > max_credits) {
        throw new MaxCreditsExceededError(price, max_credits, cheaperOptions(priced, max_credits, rates));
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
          model,
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
