/** Seedance 2.0's prices on Apiframe: credits per second of video, by resolution and reference-video use. Pure. */
import * as z from 'zod';
import { LIMITS, RESOLUTIONS, type Resolution, type WireSeedanceParams } from './params.js';

export type Variant = Resolution | `${Resolution}-refvid`;
export const VARIANTS: readonly Variant[] = [
  ...RESOLUTIONS,
  ...RESOLUTIONS.map((r) => `${r}-refvid` as const),
];

export type PriceTable = Readonly<Record<Variant, number>>;

/** The Seedance page's table: credits per second. */
export const DEFAULT_PRICES: PriceTable = {
  '480p': 2,
  '720p': 4,
  '1080p': 10,
  '480p-refvid': 4,
  '720p-refvid': 8,
  '1080p-refvid': 20,
};

export type PricedParams = Pick<WireSeedanceParams, 'duration' | 'resolution' | 'reference_video_urls'>;

export interface Estimate {
  credits: number;
  variant: Variant;
  creditsPerSecond: number;
  duration: number;
}

export function variantOf(params: Pick<PricedParams, 'resolution' | 'reference_video_urls'>): Variant {
  return (params.reference_video_urls?.length ?? 0) > 0 ? `${params.resolution}-refvid` : params.resolution;
}

/** Credits are whole; a fractional rate (from a price file) is rounded up, so an estimate never undershoots. */
export function estimate(params: PricedParams, prices: PriceTable = DEFAULT_PRICES): Estimate {
  const variant = variantOf(params);
  const creditsPerSecond = prices[variant];
  return {
    credits: Math.ceil(creditsPerSecond * params.duration - 1e-9),
    variant,
    creditsPerSecond,
    duration: params.duration,
  };
}

const rate = z.number().positive().finite();
const PriceFile = z.strictObject(
  Object.fromEntries(VARIANTS.map((v) => [v, rate.optional()])) as Record<
    Variant,
    z.ZodOptional<typeof rate>
  >,
);

/**
 * A price file overrides some or all of the table: `{"720p": 5, "720p-refvid": 10}`. Anything else is an error
 * that says what is wrong, so a typo cannot silently leave the old price in place.
 */
export function parsePriceTable(json: unknown, base: PriceTable = DEFAULT_PRICES): PriceTable {
  const parsed = PriceFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? `unknown variant ${i.keys.map((k) => JSON.stringify(k)).join(', ')} (known: ${VARIANTS.join(', ')})`
        : `${i.path.map(String).join('.') || 'file'}: ${i.message}`,
    );
    throw new Error(`expected an object of credits per second by variant: ${problems.join('; ')}`);
  }
  const table: Record<string, number> = { ...base };
  for (const [variant, value] of Object.entries(parsed.data)) if (value !== undefined) table[variant] = value;
  return table as PriceTable;
}

/** A planned video with how many of it. */
export type PlannedPrice = PricedParams & { count: number };

export function planTotal(plan: readonly PlannedPrice[], prices: PriceTable = DEFAULT_PRICES): number {
  return plan.reduce((sum, video) => sum + estimate(video, prices).credits * video.count, 0);
}

export interface PlanOption {
  change: string;
  plan: PlannedPrice[];
  total: number;
}

/**
 * Plan-wide changes that bring a plan within `maxCredits`: every shot at a lower resolution, every shot shorter,
 * fewer shots (the first ones kept), or no reference videos. Each is the least change of its kind that fits; the
 * list is best first, the one keeping the most of the plan (the highest total) at the top.
 */
export function planOptions(
  plan: readonly PlannedPrice[],
  maxCredits: number,
  prices: PriceTable = DEFAULT_PRICES,
): PlanOption[] {
  const options: PlanOption[] = [];
  const add = (change: string, candidate: PlannedPrice[]) => {
    const total = planTotal(candidate, prices);
    if (total <= maxCredits && candidate.length > 0) options.push({ change, plan: candidate, total });
  };
  const highest = Math.max(...plan.map((v) => RESOLUTIONS.indexOf(v.resolution)));
  for (let i = highest - 1; i >= 0; i--) {
    const cap = RESOLUTIONS[i];
    if (cap === undefined) continue;
    const capped = plan.map((v) => (RESOLUTIONS.indexOf(v.resolution) > i ? { ...v, resolution: cap } : v));
    if (planTotal(capped, prices) <= maxCredits) {
      add(`every shot at ${cap} at most`, capped);
      break;
    }
  }
  const longest = Math.max(...plan.map((v) => v.duration));
  for (let d = longest - 1; d >= LIMITS.duration.min; d--) {
    const shorter = plan.map((v) => ({ ...v, duration: Math.min(v.duration, d) }));
    if (planTotal(shorter, prices) <= maxCredits) {
      add(`every shot ${d} s at most`, shorter);
      break;
    }
  }
  const shots = plan.reduce((n, v) => n + v.count, 0);
  for (let keep = shots - 1; keep >= 1; keep--) {
    let left = keep;
    const fewer = plan.flatMap((v) => {
      const count = Math.min(v.count, left);
      left -= count;
      return count > 0 ? [{ ...v, count }] : [];
    });
    if (planTotal(fewer, prices) <= maxCredits) {
      add(`only the first ${keep} of ${shots} videos`, fewer);
      break;
    }
  }
  if (plan.some((v) => (v.reference_video_urls?.length ?? 0) > 0)) {
    add(
      'no reference_video_urls in any shot',
      plan.map(({ reference_video_urls: _dropped, ...rest }) => rest),
    );
  }
  return options.sort((a, b) => b.total - a.total);
}

export interface CheaperOption {
  change: string;
  params: PricedParams;
  estimate: Estimate;
}

/**
 * Variants of one video that would cost at most `maxCredits`: the same video at a lower resolution, the longest
 * duration that fits, or without reference videos. Each changes one thing, so the agent can pick what matters least.
 */
export function cheaperOptions(
  params: PricedParams,
  maxCredits: number,
  prices: PriceTable = DEFAULT_PRICES,
) {
  const options: CheaperOption[] = [];
  const add = (change: string, candidate: PricedParams) => {
    const e = estimate(candidate, prices);
    if (e.credits <= maxCredits) options.push({ change, params: candidate, estimate: e });
  };
  const current = RESOLUTIONS.indexOf(params.resolution);
  for (let i = current - 1; i >= 0; i--) {
    const resolution = RESOLUTIONS[i];
    if (resolution === undefined) continue;
    add(`resolution ${resolution}`, { ...params, resolution });
  }
  for (let d = params.duration - 1; d >= LIMITS.duration.min; d--) {
    const candidate = { ...params, duration: d };
    if (estimate(candidate, prices).credits <= maxCredits) {
      add(`duration ${d} s`, candidate);
      break;
    }
  }
  if ((params.reference_video_urls?.length ?? 0) > 0) {
    const { reference_video_urls: _dropped, ...rest } = params;
    add('without reference_video_urls', rest);
  }
  return options;
}
