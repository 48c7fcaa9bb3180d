/**
 * The Seedance 2 family end to end: a model with no published price is refused without max_credits, reserved at it,
 * charged, learned; the next estimate is exact and says so. Real MCP server, real client, real simulator, real ledger.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG_FILE } from '../src/app/catalog.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { structuredOf, textOf, useHarness } from './helpers/mcp.js';

const start = useHarness();

const FAST = {
  prompt: 'A paper boat on a rainy street',
  model: 'seedance-2-fast',
  duration: 5,
  resolution: '720p',
};

interface Estimated {
  total_credits: number;
  videos: { credits: number; rate_source: string; charges?: number; credits_per_second: number }[];
}

describe('a model with no published price', () => {
  it('is refused without max_credits, reserved at it, charged, learned, then estimated exactly', async () => {
    // The simulated Apiframe charges seedance-2-fast 720p 3 credits/s; seedance-mcp has no published rate for it.
    const h = await start({
      config: { budgetCredits: 1000 },
      sim: { prices: { 'seedance-2-fast': { '720p': 3 } } },
    });

    const bounded = await h.call('estimate_cost', { model: FAST.model, duration: 5, resolution: '720p' });
    expect(bounded.isError).toBeFalsy();
    // The simulated catalog's costMax for seedance-2-fast is its dearest rate, 6 credits/s (720p-refvid).
    expect(structuredOf<Estimated>(bounded).videos[0]).toMatchObject({ credits: 30, rate_source: 'bounded' });
    expect(structuredOf<{ catalog_models: string[] }>(bounded).catalog_models).toEqual([
      'seedance-2',
      'seedance-2-fast',
      'seedance-2-mini',
      'seedance-2.5',
    ]);

    const refused = await h.call('generate_video', FAST);
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/Give max_credits/);
    expect(h.sim.exchanges.filter((e) => e.method === 'POST')).toHaveLength(0);

    // max_credits over the catalog bound: the lower of the two (the bound, 30) is reserved.
    const submitted = structuredOf<VideoOutput>(
      await h.call('generate_video', { ...FAST, max_credits: 40, wait_seconds: 0 }),
    );
    expect(submitted.cost).toMatchObject({
      estimated_credits: 30,
      rate_source: 'bounded',
      model: 'seedance-2-fast',
    });
    expect(submitted.status).not.toBe('completed');
    expect(submitted.budget).toMatchObject({ reserved: 30 });

    const done = structuredOf<VideoOutput>(
      await h.call('get_video', { job_id: submitted.job_id, wait_seconds: 30 }),
    );
    expect(done.status).toBe('completed');
    expect(done.cost).toMatchObject({ charged_credits: 15, rate_source: 'bounded' });
    expect(done.budget).toMatchObject({ spent: 15, reserved: 0, remaining: 985 });
    expect(done.warnings.join('\n')).toMatch(/The rate is learned now/);
    expect(done.warnings.join('\n')).not.toMatch(/Price drift/);

    const learned = await h.call('estimate_cost', { model: FAST.model, duration: 8, resolution: '720p' });
    expect(learned.isError).toBeFalsy();
    expect(structuredOf<Estimated>(learned).videos[0]).toMatchObject({
      credits: 24,
      credits_per_second: 3,
      rate_source: 'learned',
      charges: 1,
    });
    expect(textOf(learned)).toMatch(/learned from 1 charges/);

    // Now known, a video of that variant needs no max_credits, and reserves its exact price.
    const again = structuredOf<VideoOutput>(
      await h.call('generate_video', { ...FAST, prompt: 'A second boat' }),
    );
    expect(again.cost).toMatchObject({ estimated_credits: 15, rate_source: 'learned' });
  });

  it('keeps the catalog in the state folder, and lists only the models it names', async () => {
    const h = await start({ sim: { catalogModels: ['seedance-2', 'seedance-2-fast'] } });
    const kept = JSON.parse(await readFile(join(h.dirs.state, CATALOG_FILE), 'utf8')) as {
      models: { id: string }[];
    };
    expect(kept.models.map((m) => m.id)).toEqual(['seedance-2', 'seedance-2-fast']);
    const out = await h.call('estimate_cost', { duration: 4 });
    expect(structuredOf<{ catalog_models: string[] }>(out).catalog_models).toEqual([
      'seedance-2',
      'seedance-2-fast',
    ]);
    expect(textOf(out)).toMatch(/Apiframe's catalog lists: seedance-2, seedance-2-fast\./);
  });

  it('reserves max_credits for seedance-2 at 4k, which has no published price', async () => {
    const h = await start({ config: { budgetCredits: 1000 } });
    const out = structuredOf<VideoOutput>(
      await h.call('generate_video', {
        prompt: 'A 4k sunrise',
        resolution: '4k',
        duration: 4,
        max_credits: 200,
      }),
    );
    expect(out.cost).toMatchObject({ estimated_credits: 200, rate_source: 'bounded', variant: '4k' });
  });
});
