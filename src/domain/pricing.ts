/**
 * The Seedance 2 family's prices on Apiframe: credits per second of video, by model, resolution and reference-video
 * use. A rate is `published` (the Seedance page's table or SEEDANCE_PRICES_FILE), `learned` (this account's own
 * charges, kept in the ledger) or, when neither is known, `bounded`: the caller's max_credits is the most it may
 * cost, and that is what the budget holds until the charge is known. Pure.
 */
import * as z from 'zod';
import { UnknownPriceError } from '../core/errors.js';
import {
  DEFAULT_MODEL,
  LIMITS,
  MODELS,
  type Model,
  RESOLUTIONS,
  type Resolution,
  type WireSeedanceParams,
} from './params.js';

export type Variant = Resolution | `${Resolution}-refvid`;
export const VARIANTS: readonly Variant[] = [
  ...RESOLUTIONS,
  ...RESOLUTIONS.map((r) => `${r}-refvid` as const),
];

/** One model's rates, as far as they are known. */
export type PriceTable = Readonly<Partial<Record<Variant, number>>>;
/** Every model's rates, as far as they are known. */
export type Prices = Readonly<Partial<Record<Model, PriceTable>>>;

/** The Seedance 2.0 page's table: credits per second (4k is in the spec, with no published price). */
export const DEFAULT_PRICES: PriceTable = {
  '480p': 2,
  '720p': 4,
  '1080p': 10,
  '480p-refvid': 4,
  '720p-refvid': 8,
  '1080p-refvid': 20,
};

/** Only seedance-2's prices are published; the other models' rates are learned or bounded. */
export const PUBLISHED_PRICES: Prices = { [DEFAULT_MODEL]: DEFAULT_PRICES };

export type RateSource = 'published' | 'learned' | 'bounded';

/** A rate learned from this account's charges: creditCost / duration over the charges it rests on. */
export interface LearnedRate {
  model: Model;
  variant: Variant;
  creditsPerSecond: number;
  charges: number;
}

export type PricedParams = Pick<WireSeedanceParams, 'duration' | 'resolution' | 'reference_video_urls'> & {
  /** DEFAULT_MODEL when not given. */
  model?: Model | undefined;
};

export interface Estimate {
  credits: number;
  model: Model;
  variant: Variant;
  /** For a bounded estimate, the bound per second. */
  creditsPerSecond: number;
  duration: number;
  source: RateSource;
  /** For a learned rate: how many charges it rests on. */
  charges?: number;
}

function variantOf(params: Pick<PricedParams, 'resolution' | 'reference_video_urls'>): Variant {
  return (params.reference_video_urls?.length ?? 0) > 0 ? `${params.resolution}-refvid` : params.resolution;
}

/** Everything known about rates: the published table, what this account has learned, and the catalog's bounds. */
export interface RateBook {
  prices: Prices;
  learned: readonly LearnedRate[];
  /** The most a second may cost, per model: Apiframe's catalog (`GET /v2/models`) `costMax` of a per-second model. */
  bounds?: Readonly<Partial<Record<Model, number>>>;
}

/** The rate of a model's variant when one is known: published first (the user's file can correct it), then learned. */
function knownRate(
  model: Model,
  variant: Variant,
  book: RateBook,
): { creditsPerSecond: number; source: 'published' | 'learned'; charges?: number } | undefined {
  const published = book.prices[model]?.[variant];
  if (published !== undefined) return { creditsPerSecond: published, source: 'published' };
  const learned = book.learned.find((r) => r.model === model && r.variant === variant);
  if (learned === undefined) return undefined;
  return { creditsPerSecond: learned.creditsPerSecond, source: 'learned', charges: learned.charges };
}

/** The published rates alone: what is known before this account has been charged for anything. */
export const PUBLISHED_RATES: RateBook = { prices: PUBLISHED_PRICES, learned: [] };

/** A learned rate that disagrees with the published one: the table (or the price file) is out of date. */
export interface PriceDrift {
  model: Model;
  variant: Variant;
  published: number;
  learned: number;
  charges: number;
}

export function priceDrift(rates: RateBook): PriceDrift[] {
  return rates.learned.flatMap((r) => {
    const published = rates.prices[r.model]?.[r.variant];
    return published === undefined || Math.abs(published - r.creditsPerSecond) < 1e-9
      ? []
      : [{ model: r.model, variant: r.variant, published, learned: r.creditsPerSecond, charges: r.charges }];
  });
}

export function describeDrift(d: PriceDrift): string {
  return `${d.model} ${d.variant}: published ${d.published}/s, charged ${+d.learned.toFixed(3)}/s over ${d.charges} charge${d.charges === 1 ? '' : 's'}`;
}

/** Credits are whole; a fractional rate is rounded up, so an estimate never undershoots. */
function creditsFor(creditsPerSecond: number, duration: number): number {
  return Math.ceil(creditsPerSecond * duration - 1e-9);
}

/** The exact price from a known rate, or undefined when the rate is neither published nor learned. */
export function knownEstimate(params: PricedParams, rates: RateBook = PUBLISHED_RATES): Estimate | undefined {
  const model = params.model ?? DEFAULT_MODEL;
  const variant = variantOf(params);
  const rate = knownRate(model, variant, rates);
  if (rate === undefined) return undefined;
  return {
    credits: creditsFor(rate.creditsPerSecond, params.duration),
    model,
    variant,
    creditsPerSecond: rate.creditsPerSecond,
    duration: params.duration,
    source: rate.source,
    ...(rate.charges === undefined ? {} : { charges: rate.charges }),
  };
}

/** The exact price; a video with no known rate is refused (UnknownPriceError), never priced by guesswork. */
export function estimate(params: PricedParams, rates: RateBook = PUBLISHED_RATES): Estimate {
  const known = knownEstimate(params, rates);
  if (known === undefined) throw new UnknownPriceError(params.model ?? DEFAULT_MODEL, variantOf(params));
  return known;
}

/** The most a video with no known rate may cost, by the catalog's bound; undefined when the catalog gives none. */
export function catalogBound(params: PricedParams, rates: RateBook): Estimate | undefined {
  const model = params.model ?? DEFAULT_MODEL;
  const perSecond = rates.bounds?.[model];
  if (perSecond === undefined) return undefined;
  return {
    credits: creditsFor(perSecond, params.duration),
    model,
    variant: variantOf(params),
    creditsPerSecond: perSecond,
    duration: params.duration,
    source: 'bounded',
  };
}

/**
 * What a video reserves: its exact price when the rate is known, else the most it may cost: max_credits, or the
 * catalog's bound when that is lower, so the budget never holds less than the charge can be. Without max_credits an
 * unknown rate is refused: a catalog's range is Apiframe's word, not the caller's consent to spend it.
 */
export function reservation(params: PricedParams, rates: RateBook, maxCredits: number | undefined): Estimate {
  const known = knownEstimate(params, rates);
  if (known !== undefined) return known;
  if (maxCredits === undefined) throw new UnknownPriceError(params.model ?? DEFAULT_MODEL, variantOf(params));
  const credits = Math.min(maxCredits, catalogBound(params, rates)?.credits ?? maxCredits);
  return {
    credits,
    model: params.model ?? DEFAULT_MODEL,
    variant: variantOf(params),
    creditsPerSecond: credits / params.duration,
    duration: params.duration,
    source: 'bounded',
  };
}

const rate = z.number().positive().finite();
const PriceTableFile = z.strictObject(
  Object.fromEntries(VARIANTS.map((v) => [v, rate.optional()])) as Record<
    Variant,
    z.ZodOptional<typeof rate>
  >,
);
const PriceFile = PriceTableFile.extend(
  Object.fromEntries(MODELS.map((m) => [m, PriceTableFile.optional()])) as Record<
    Model,
    z.ZodOptional<typeof PriceTableFile>
  >,
);

/**
 * A price file overrides some or all of the published rates: variants at the top are seedance-2's
 * (`{"720p": 5, "720p-refvid": 10}`), and a model's name holds that model's (`{"seedance-2-fast": {"720p": 3}}`).
 * Anything else is an error that says what is wrong, so a typo cannot silently leave the old price in place.
 */
export function parsePriceTable(json: unknown, base: Prices = PUBLISHED_PRICES): Prices {
  const parsed = PriceFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys'
        ? `unknown variant ${i.keys.map((k) => JSON.stringify(k)).join(', ')} (known: ${VARIANTS.join(', ')}; or a model: ${MODELS.join(', ')})`
        : `${i.path.map(String).join('.') || 'file'}: ${i.message}`,
    );
    throw new Error(`expected an object of credits per second by variant: ${problems.join('; ')}`);
  }
  const tables = new Map<Model, Record<string, number>>(MODELS.map((m) => [m, { ...base[m] }]));
  const merge = (model: Model, entries: Record<string, number | undefined>) => {
    const table = tables.get(model) ?? {};
    for (const [variant, value] of Object.entries(entries)) if (value !== undefined) table[variant] = value;
    tables.set(model, table);
  };
  for (const [key, value] of Object.entries(parsed.data)) {
    if (typeof value === 'object') merge(key as Model, value);
    else merge(DEFAULT_MODEL, { [key]: value });
  }
  const prices: Partial<Record<Model, PriceTable>> = {};
  for (const [model, table] of tables) if (Object.keys(table).length > 0) prices[model] = table;
  return prices;
}

/** A planned video with how many of it. */
export type PlannedPrice = PricedParams & { count: number };

/** The plan's total, or undefined when a video in it has no known rate. */
function planTotal(plan: readonly PlannedPrice[], rates: RateBook = PUBLISHED_RATES): number | undefined {
  let total = 0;
  for (const video of plan) {
    const known = knownEstimate(video, rates);
    if (known === undefined) return undefined;
    total += known.credits * video.count;
  }
  return total;
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
  rates: RateBook = PUBLISHED_RATES,
): PlanOption[] {
  const options: PlanOption[] = [];
  const add = (change: string, candidate: PlannedPrice[]) => {
    const total = planTotal(candidate, rates);
    if (total !== undefined && total <= maxCredits && candidate.length > 0)
      options.push({ change, plan: candidate, total });
  };
  const highest = Math.max(...plan.map((v) => RESOLUTIONS.indexOf(v.resolution)));
  for (let i = highest - 1; i >= 0; i--) {
    const cap = RESOLUTIONS[i];
    if (cap === undefined) continue;
    const capped = plan.map((v) => (RESOLUTIONS.indexOf(v.resolution) > i ? { ...v, resolution: cap } : v));
    if ((planTotal(capped, rates) ?? Number.POSITIVE_INFINITY) <= maxCredits) {
      add(`every shot at ${cap} at most`, capped);
      break;
    }
  }
  const longest = Math.max(...plan.map((v) => v.duration));
  for (let d = longest - 1; d >= LIMITS.duration.min; d--) {
    const shorter = plan.map((v) => ({ ...v, duration: Math.min(v.duration, d) }));
    if ((planTotal(shorter, rates) ?? Number.POSITIVE_INFINITY) <= maxCredits) {
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
    if ((planTotal(fewer, rates) ?? Number.POSITIVE_INFINITY) <= maxCredits) {
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
export function cheaperOptions(params: PricedParams, maxCredits: number, rates: RateBook = PUBLISHED_RATES) {
  const options: CheaperOption[] = [];
  const add = (change: string, candidate: PricedParams) => {
    const e = knownEstimate(candidate, rates);
    if (e !== undefined && e.credits <= maxCredits) options.push({ change, params: candidate, estimate: e });
  };
  const current = RESOLUTIONS.indexOf(params.resolution);
  for (let i = current - 1; i >= 0; i--) {
    const resolution = RESOLUTIONS[i];
    if (resolution === undefined) continue;
    add(`resolution ${resolution}`, { ...params, resolution });
  }
  for (let d = params.duration - 1; d >= LIMITS.duration.min; d--) {
    const candidate = { ...params, duration: d };
    if ((knownEstimate(candidate, rates)?.credits ?? Number.POSITIVE_INFINITY) <= maxCredits) {
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
