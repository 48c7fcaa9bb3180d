/** Seedance 2.0's prices: the page's worked examples, the whole table, price-file overrides and cheaper options. */
import { describe, expect, it } from 'vitest';
import { LIMITS, RESOLUTIONS } from '../src/domain/params.js';
import {
  catalogBound,
  cheaperOptions,
  DEFAULT_PRICES,
  describeDrift,
  estimate,
  knownEstimate,
  type PricedParams,
  type Prices,
  type PriceTable,
  PUBLISHED_RATES,
  parsePriceTable,
  priceDrift,
  type RateBook,
  reservation,
  VARIANTS,
} from '../src/domain/pricing.js';

const refvid = ['https://example.com/motion.mp4'];

function book(prices: Prices): RateBook {
  return { prices, learned: [] };
}

function durations(): number[] {
  const out: number[] = [];
  for (let d = LIMITS.duration.min; d <= LIMITS.duration.max; d++) out.push(d);
  return out;
}

describe('estimate', () => {
  it('matches the three worked examples of the Seedance page', () => {
    expect(estimate({ duration: 5, resolution: '720p' })).toEqual({
      credits: 20,
      model: 'seedance-2',
      variant: '720p',
      creditsPerSecond: 4,
      duration: 5,
      source: 'published',
    });
    expect(estimate({ duration: 5, resolution: '1080p' }).credits).toBe(50);
    expect(estimate({ duration: 12, resolution: '720p', reference_video_urls: refvid })).toEqual({
      credits: 96,
      model: 'seedance-2',
      variant: '720p-refvid',
      creditsPerSecond: 8,
      duration: 12,
      source: 'published',
    });
  });

  it('has the six rates of the page', () => {
    expect(DEFAULT_PRICES).toEqual({
      '480p': 2,
      '720p': 4,
      '1080p': 10,
      '480p-refvid': 4,
      '720p-refvid': 8,
      '1080p-refvid': 20,
    });
    // 4k is in the spec with no published price.
    expect([...VARIANTS].filter((v) => !v.startsWith('4k')).sort()).toEqual(
      Object.keys(DEFAULT_PRICES).sort(),
    );
  });

  const PRICED = RESOLUTIONS.filter((r) => r !== '4k');
  const cases = PRICED.flatMap((resolution) =>
    [false, true].flatMap((withRefvid) =>
      durations().map((duration) => ({ resolution, withRefvid, duration })),
    ),
  );

  it('covers every resolution x refvid x duration of the model', () => {
    expect(cases).toHaveLength(PRICED.length * 2 * (LIMITS.duration.max - LIMITS.duration.min + 1));
    expect(durations()[0]).toBe(LIMITS.duration.min);
    expect(durations().at(-1)).toBe(LIMITS.duration.max);
  });

  it.each(cases)(
    '$resolution refvid=$withRefvid $duration s = rate x duration',
    ({ resolution, withRefvid, duration }) => {
      const variant = withRefvid ? (`${resolution}-refvid` as const) : resolution;
      const rate = DEFAULT_PRICES[variant] ?? Number.NaN;
      const params: PricedParams = withRefvid
        ? { duration, resolution, reference_video_urls: refvid }
        : { duration, resolution };
      expect(estimate(params)).toEqual({
        credits: rate * duration,
        model: 'seedance-2',
        variant,
        creditsPerSecond: rate,
        duration,
        source: 'published',
      });
    },
  );

  it('charges the refvid rate for any number of reference videos, and the plain rate for none', () => {
    const three = Array(3).fill(refvid[0]) as string[];
    expect(estimate({ duration: 4, resolution: '480p', reference_video_urls: three }).variant).toBe(
      '480p-refvid',
    );
    expect(estimate({ duration: 4, resolution: '480p', reference_video_urls: [] }).variant).toBe('480p');
  });

  it('rounds a fractional rate from a price file up, never down', () => {
    const prices = book(parsePriceTable({ '720p': 4.1 }));
    expect(estimate({ duration: 5, resolution: '720p' }, prices).credits).toBe(21);
    const exact = book(parsePriceTable({ '720p': 0.2 }));
    // 0.2 x 5 is 1.0000000000000002 in floating point: still exactly one credit.
    expect(estimate({ duration: 5, resolution: '720p' }, exact).credits).toBe(1);
  });
});

describe('parsePriceTable', () => {
  it('merges a partial override into the table', () => {
    const table = parsePriceTable({ '720p': 5, '720p-refvid': 10 });
    expect(table).toEqual({ 'seedance-2': { ...DEFAULT_PRICES, '720p': 5, '720p-refvid': 10 } });
    expect(estimate({ duration: 5, resolution: '720p' }, book(table)).credits).toBe(25);
    // The default table is untouched.
    expect(DEFAULT_PRICES['720p']).toBe(4);
  });

  it('merges onto a given base table', () => {
    const base: PriceTable = { ...DEFAULT_PRICES, '480p': 3 };
    expect(parsePriceTable({ '1080p': 11 }, { 'seedance-2': base })).toEqual({
      'seedance-2': { ...base, '1080p': 11 },
    });
  });

  it('accepts an empty override as the table itself', () => {
    expect(parsePriceTable({})).toEqual({ 'seedance-2': DEFAULT_PRICES });
  });

  it('refuses an unknown variant, naming it and the known ones', () => {
    expect(() => parsePriceTable({ '8k': 40 })).toThrow(/unknown variant "8k"/);
    expect(() => parsePriceTable({ '720P': 4 })).toThrow(/known: 480p, 720p, 1080p, 4k, 480p-refvid/);
    expect(() => parsePriceTable({ 'seedance-2-fast': { '720P': 4 } })).toThrow(/unknown variant "720P"/);
  });

  it("prices 4k and the other models when the file gives their rates, each model's under its name", () => {
    const prices = parsePriceTable({ '4k': 40, 'seedance-2-fast': { '720p': 3 } });
    expect(prices['seedance-2']?.['4k']).toBe(40);
    expect(
      estimate({ model: 'seedance-2-fast', duration: 5, resolution: '720p' }, book(prices)),
    ).toMatchObject({
      credits: 15,
      source: 'published',
    });
  });

  it.each([
    ['negative', { '720p': -1 }, /720p/],
    ['zero', { '1080p': 0 }, /1080p/],
    ['a string', { '480p': '2' }, /480p/],
    ['infinite', { '480p-refvid': Number.POSITIVE_INFINITY }, /480p-refvid/],
  ])('refuses a %s rate, naming the variant', (_label, json, field) => {
    let message = '';
    try {
      parsePriceTable(json);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/credits per second/);
    expect(message).toMatch(field);
  });

  it('refuses a negative and a zero rate as not positive', () => {
    expect(() => parsePriceTable({ '720p': -1 })).toThrow(/720p: .*(>0|positive|greater than 0)/i);
    expect(() => parsePriceTable({ '720p': 0 })).toThrow(/720p: .*(>0|positive|greater than 0)/i);
  });

  it('refuses a string rate as not a number', () => {
    expect(() => parsePriceTable({ '720p': '4' })).toThrow(/720p: .*number/i);
  });

  it.each([
    ['an array', [4, 8]],
    ['a number', 4],
    ['null', null],
    ['a string', '{"720p": 4}'],
  ])('refuses %s as the whole file', (_label, json) => {
    expect(() => parsePriceTable(json)).toThrow(/expected an object of credits per second by variant/);
    expect(() => parsePriceTable(json)).toThrow(/file: .*object/i);
  });
});

describe('cheaperOptions', () => {
  const base: PricedParams = { duration: 10, resolution: '1080p', reference_video_urls: refvid };

  function changedKeys(a: PricedParams, b: PricedParams): string[] {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].filter(
      (k) =>
        JSON.stringify((a as Record<string, unknown>)[k]) !==
        JSON.stringify((b as Record<string, unknown>)[k]),
    );
  }

  it('offers options that each fit the budget and each change one thing', () => {
    const max = 150; // 10 s 1080p-refvid costs 200
    expect(estimate(base).credits).toBeGreaterThan(max);
    const options = cheaperOptions(base, max);
    expect(options.length).toBeGreaterThan(0);
    for (const option of options) {
      expect(option.estimate).toEqual(estimate(option.params));
      expect(option.estimate.credits).toBeLessThanOrEqual(max);
      expect(changedKeys(base, option.params)).toHaveLength(1);
    }
    expect(options.map((o) => o.change)).toEqual([
      'resolution 720p',
      'resolution 480p',
      'duration 7 s',
      'without reference_video_urls',
    ]);
  });

  it('offers the longest duration that fits, not any shorter one', () => {
    const options = cheaperOptions({ duration: 15, resolution: '720p' }, 43);
    const durationOptions = options.filter((o) => o.change.startsWith('duration'));
    expect(durationOptions.map((o) => o.params.duration)).toEqual([10]);
    expect(durationOptions[0]?.estimate.credits).toBe(40);
  });

  it('leaves out the options that do not fit', () => {
    // 10 s 720p = 40; 480p = 20 fits under 25, a shorter 720p needs <= 6 s (24).
    const options = cheaperOptions({ duration: 10, resolution: '720p' }, 25);
    expect(options.map((o) => o.change)).toEqual(['resolution 480p', 'duration 6 s']);
  });

  it('offers nothing when nothing fits', () => {
    expect(cheaperOptions(base, 1)).toEqual([]);
    expect(cheaperOptions({ duration: LIMITS.duration.min, resolution: RESOLUTIONS[0] }, 0)).toEqual([]);
  });

  it('does not offer dropping reference videos when there are none, nor a lower resolution below the lowest', () => {
    const options = cheaperOptions({ duration: 10, resolution: RESOLUTIONS[0] }, 1_000);
    expect(options.map((o) => o.change)).toEqual([`duration 9 s`]);
  });

  it('uses the price table it is given', () => {
    const prices = book(parsePriceTable({ '480p': 1 }));
    const options = cheaperOptions({ duration: 10, resolution: '720p' }, 10, prices);
    expect(options.map((o) => o.change)).toEqual(['resolution 480p']);
    expect(options[0]?.estimate.credits).toBe(10);
  });
});

describe('rate sources: published, learned, bounded', () => {
  const fast = { model: 'seedance-2-fast', duration: 5, resolution: '720p' } as const;
  const learned: RateBook = {
    prices: PUBLISHED_RATES.prices,
    learned: [
      { model: 'seedance-2-fast', variant: '720p', creditsPerSecond: 3, charges: 2 },
      { model: 'seedance-2', variant: '720p', creditsPerSecond: 5, charges: 1 },
    ],
  };

  it('refuses a video with no known rate unless max_credits is given, and then reserves it', () => {
    expect(knownEstimate(fast)).toBeUndefined();
    expect(() => estimate(fast)).toThrow(/seedance-2-fast at 720p has no published price/);
    expect(() => reservation(fast, PUBLISHED_RATES, undefined)).toThrow(/no published price/);
    expect(reservation(fast, PUBLISHED_RATES, 40)).toMatchObject({ credits: 40, source: 'bounded' });
  });

  it("reserves the catalog's bound when it is lower than max_credits", () => {
    const bounded: RateBook = { ...PUBLISHED_RATES, bounds: { 'seedance-2-fast': 6 } };
    expect(catalogBound(fast, bounded)).toMatchObject({
      credits: 30,
      creditsPerSecond: 6,
      source: 'bounded',
    });
    expect(reservation(fast, bounded, 40).credits).toBe(30);
    expect(reservation(fast, bounded, 20).credits).toBe(20);
  });

  it('prices from a learned rate with its charges, the published one first', () => {
    expect(estimate(fast, learned)).toMatchObject({ credits: 15, source: 'learned', charges: 2 });
    expect(estimate({ duration: 5, resolution: '720p' }, learned)).toMatchObject({
      credits: 20,
      source: 'published',
    });
  });

  it('reports a learned rate that disagrees with the published one as drift, and no other', () => {
    expect(priceDrift(learned)).toEqual([
      { model: 'seedance-2', variant: '720p', published: 4, learned: 5, charges: 1 },
    ]);
    expect(
      describeDrift({ model: 'seedance-2', variant: '720p', published: 4, learned: 5, charges: 1 }),
    ).toBe('seedance-2 720p: published 4/s, charged 5/s over 1 charge');
  });
});
