import * as z from 'zod';
import { InvalidArgumentsError, LedgerUnavailableError } from '../../core/errors.js';
import type { JsonSchema } from '../../core/json-schema.js';
import {
  agentParamFields,
  DEFAULT_MODEL,
  modelField,
  promptSchema,
  RESOLUTIONS,
  withSeedanceRules,
} from '../../domain/params.js';
import {
  catalogBound,
  cheaperOptions,
  DEFAULT_PRICES,
  estimate,
  knownEstimate,
  planOptions,
} from '../../domain/pricing.js';
import type { AccessScope } from '../../inputs/local-files.js';
import { measureMediaRefs } from '../../inputs/measure.js';
import type { BudgetSnapshot } from '../../ledger/types.js';
import { defineTool } from './define.js';
import { BalanceOutput, BudgetOutput, balanceOutput, budgetOutput } from './shapes.js';

const MAX_PLANNED = 50;

const NO_BUDGET: BudgetSnapshot = {
  limit: null,
  period: 'total',
  periodStart: null,
  spent: 0,
  reserved: 0,
  remaining: null,
};

const plannedVideo = {
  prompt: promptSchema.optional(),
  model: modelField,
  ...agentParamFields,
  count: z.int().min(1).max(100).default(1).describe('How many such videos.'),
};
const PlannedVideo = withSeedanceRules(z.strictObject(plannedVideo));

const input = withSeedanceRules(
  z.strictObject({
    ...plannedVideo,
    videos: z.array(PlannedVideo).min(1).max(MAX_PLANNED).optional().describe('Videos: the fields above.'),
  }),
);

/**
 * The fields are generate_video's, whose descriptions say what they mean: here they keep their type, limits, default
 * and enum but not their words. The items of `videos` are the top level's fields, said once there: a plain object
 * rather than a `$ref` back to the root, which clients that inline references (or refuse recursion) cannot use.
 */
function publishInput(schema: JsonSchema): JsonSchema {
  const properties = schema.properties as Record<string, Record<string, unknown>>;
  for (const [name, prop] of Object.entries(properties)) {
    if (name !== 'count' && name !== 'videos') delete prop.description;
  }
  const videos = properties.videos;
  if (videos !== undefined) videos.items = { type: 'object' };
  return schema;
}

const output = z.object({
  simulated: z.boolean(),
  videos: z.array(
    z.object({
      index: z.number(),
      count: z.number(),
      credits: z.number(),
      total_credits: z.number(),
      variant: z.string(),
      credits_per_second: z.number(),
      /** published (the price table), learned (this account's charges, `charges` of them), bounded (catalog's most). */
      rate_source: z.enum(['published', 'learned', 'bounded']),
      charges: z.number().optional(),
      duration_seconds: z.number(),
      warnings: z.array(z.string()),
    }),
  ),
  total_credits: z.number(),
  /** The family's models Apiframe's catalog lists; null before the catalog has been read. */
  catalog_models: z.array(z.string()).nullable(),
  budget: BudgetOutput,
  balance: BalanceOutput,
  /** Within the budget (when set) and the balance (when known). */
  fits: z.boolean(),
  /** One video changed; total_credits is the plan's new total. */
  cheaper_options: z.array(
    z.object({ index: z.number(), change: z.string(), credits: z.number(), total_credits: z.number() }),
  ),
  /** Every shot changed alike; best (most kept) first. */
  plan_options: z.array(z.object({ change: z.string(), total_credits: z.number() })),
});

export const estimateCostTool = defineTool({
  name: 'estimate_cost',
  title: 'Estimate cost',
  description: `Price of a video (generate_video's fields) or a plan vs budget and balance; what fits if over. Free. ${DEFAULT_MODEL} credits/s: ${RESOLUTIONS.flatMap((r) => (DEFAULT_PRICES[r] === undefined ? [] : [`${r} ${DEFAULT_PRICES[r]}`])).join(', ')}.`,
  input,
  publishInput,
  output,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
  async handler(args, ctx) {
    const { videos: list, ...single } = args;
    if (list !== undefined) {
      const mixed = Object.keys(ctx.rawArgs).filter((key) => key !== 'videos');
      if (mixed.length > 0) {
        throw new InvalidArgumentsError(
          mixed.map((field) => ({
            field,
            message: 'give either the fields of one video or "videos", not both',
          })),
        );
      }
    }
    const plan = list ?? [single];
    const { services } = ctx;
    const rates = await services.jobs.rates(plan);
    // Local media is measured here as generate_video measures it, so a plan that passes will not be refused later.
    let scope: Promise<AccessScope> | undefined;
    const measuredWarnings: string[][] = [];
    for (const video of plan) {
      const measured = await measureMediaRefs(video, () => {
        scope ??= ctx.accessScope();
        return scope;
      });
      await measured.close();
      measuredWarnings.push(measured.warnings);
    }
    const videos = plan.map((video, index) => {
      // No known rate: the catalog's bound (the most it may cost), else refused as unknown.
      const e = knownEstimate(video, rates) ?? catalogBound(video, rates) ?? estimate(video, rates);
      return {
        index,
        count: video.count,
        credits: e.credits,
        total_credits: e.credits * video.count,
        variant: e.variant,
        credits_per_second: e.creditsPerSecond,
        rate_source: e.source,
        ...(e.charges === undefined ? {} : { charges: e.charges }),
        duration_seconds: e.duration,
        warnings: measuredWarnings[index] ?? [],
      };
    });
    const total = videos.reduce((sum, v) => sum + v.total_credits, 0);
    // With no budget set (the server's, or an HTTP member's own) there is none to report, and the shared ledger (a file every process writes) is not read:
    // the answer is then priced from memory alone, which keeps the cheapest call of this server cheap.
    // A ledger that cannot be used stops spending, not pricing: the estimate is given, and the problem named.
    const [budgetOrProblem, balance] = await Promise.all([
      services.config.budgetCredits === undefined && (ctx.session.member?.budgetLimit ?? null) === null
        ? NO_BUDGET
        : services.ledger.budget().catch((error: unknown) => {
            if (error instanceof LedgerUnavailableError) return error;
            throw error;
          }),
      services.account.balance(),
    ]);
    const ledgerProblem = budgetOrProblem instanceof LedgerUnavailableError ? budgetOrProblem : undefined;
    const budget = ledgerProblem === undefined ? (budgetOrProblem as BudgetSnapshot) : NO_BUDGET;
    const limits = [budget.remaining, balance.credits].filter((n): n is number => n !== null);
    const available = limits.length === 0 ? Number.POSITIVE_INFINITY : Math.min(...limits);
    const fits = total <= available;
    const cheaper = fits
      ? []
      : plan.flatMap((video, index) => {
          const others = total - (videos[index]?.total_credits ?? 0);
          const perVideo = Math.floor(Math.max(0, available - others) / video.count);
          return cheaperOptions(video, perVideo, rates).map((o) => ({
            index,
            change: o.change,
            credits: o.estimate.credits * video.count,
            total_credits: others + o.estimate.credits * video.count,
          }));
        });
    const planWide =
      // One video alone: its own cheaper variants (above) are the plan's.
      fits || (plan.length === 1 && plan[0]?.count === 1)
        ? []
        : planOptions(plan, available, rates).map((o) => ({
            change: o.change,
            total_credits: o.total,
          }));
    const structured = {
      simulated: services.simulated,
      videos,
      total_credits: total,
      catalog_models: services.catalog.available(),
      budget: budgetOutput(budget),
      balance: balanceOutput(balance),
      fits,
      cheaper_options: cheaper,
      plan_options: planWide,
    };
    const against = [
      budget.remaining === null ? undefined : `budget left ${budget.remaining}`,
      balance.credits === null ? undefined : `account balance ${balance.credits}`,
    ].filter((s) => s !== undefined);
    const lines = [
      `${plan.length === 1 && videos[0]?.count === 1 ? 'This video costs' : 'This plan costs'} ${total} credits${against.length > 0 ? ` (${against.join(', ')})` : ''}: ${fits ? 'it fits' : 'it does NOT fit'}.`,
      ...videos.map(
        (v) =>
          `#${v.index}: ${v.count} x ${v.credits} credits (${v.variant}, ${v.credits_per_second}/s x ${v.duration_seconds} s, ${v.rate_source}${v.charges === undefined ? '' : ` from ${v.charges} charges`})`,
      ),
      ...videos.flatMap((v) => v.warnings.map((w) => `Warning #${v.index}: ${w}`)),
      ...(videos.some((v) => v.rate_source === 'bounded')
        ? [
            "A bounded price is the most Apiframe's catalog says it may cost: no rate is known yet, so generate_video needs max_credits; the first charge teaches the rate.",
          ]
        : []),
      ...(structured.catalog_models === null
        ? []
        : [
            `Apiframe's catalog lists: ${structured.catalog_models.join(', ') || 'none of the Seedance 2 family'}.`,
          ]),
      ...planWide.map((o) => `Fits: ${o.change}, plan total ${o.total_credits} credits`),
      ...cheaper.map(
        (o) => `Fits: #${o.index} ${o.change}, ${o.credits} credits (plan total ${o.total_credits})`,
      ),
      ...(ledgerProblem === undefined
        ? []
        : [`${ledgerProblem.message} No video can be submitted until it is fixed: ${ledgerProblem.fix}`]),
    ];
    return { structured, text: lines.join('\n') };
  },
});
