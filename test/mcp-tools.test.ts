import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { packageAsset } from '../src/core/package-files.js';
import { AGENT_IDEMPOTENCY_KEY_MAX } from '../src/domain/params.js';
import { DEFAULT_PRICES } from '../src/domain/pricing.js';
import { ERROR_META_KEY } from '../src/mcp/server.js';
import { PREVIEW_MAX_BYTES, PREVIEW_MAX_WIDTH } from '../src/mcp/tools/preview.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { structuredOf, textOf, useHarness } from './helpers/mcp.js';
import { probeBytes } from './helpers/media.js';
import { TEST_KEY } from './helpers/simulator.js';
import { waitUntil } from './helpers/wait.js';

const start = useHarness();

const PROMPT = 'A red kite over a green hill at dawn, slow dolly in';

describe('tools/list', () => {
  it('lists five tools, each with schemas from the shared model, annotations and its cost', async () => {
    const h = await start();
    const { tools } = await h.client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'generate_video',
      'estimate_cost',
      'upload_asset',
      'get_video',
      'list_videos',
    ]);
    for (const tool of tools) {
      expect(tool.outputSchema?.type).toBe('object');
      // Hints at the spec's default are left out: read them as a client must, defaults first.
      const hints = { readOnlyHint: false, destructiveHint: true, openWorldHint: true, ...tool.annotations };
      expect(hints.readOnlyHint || !hints.destructiveHint, tool.name).toBe(true);
      expect(tool.description).toMatch(/credit|Free/i);
    }
    const generate = tools.find((t) => t.name === 'generate_video');
    const props = generate?.inputSchema.properties as Record<string, Record<string, unknown>>;
    expect(props.duration).toMatchObject({ type: 'integer', minimum: 4, maximum: 15, default: 8 });
    expect(props.resolution).toMatchObject({ enum: ['480p', '720p', '1080p', '4k'], default: '720p' });
    expect(props.model).toMatchObject({
      default: 'seedance-2',
      enum: expect.arrayContaining(['seedance-2-fast']),
    });
    expect(props.reference_image_urls).toMatchObject({ maxItems: 9 });
    expect(generate?.inputSchema.required).toEqual(['prompt']);
    expect(generate?.inputSchema.additionalProperties).toBe(false);
  });
});

describe('estimate_cost', () => {
  it('prices one video exactly, without a prompt and without spending anything', async () => {
    const h = await start();
    const result = await h.call('estimate_cost', { duration: 5, resolution: '1080p' });
    expect(result.isError).toBeFalsy();
    const out = structuredOf(result);
    expect(out).toMatchObject({
      total_credits: 50,
      fits: true,
      budget: null,
      videos: [{ credits: 50, variant: '1080p', credits_per_second: 10, duration_seconds: 5, count: 1 }],
    });
    expect(out.balance).toMatchObject({ credits: 100_000, unavailable: null });
    expect(h.sim.jobCount).toBe(0);
  });

  it('prices a plan against the budget and proposes cheaper variants when it does not fit', async () => {
    const h = await start({ config: { budgetCredits: 100 } });
    const result = await h.call('estimate_cost', {
      videos: [
        {
          prompt: 'a',
          duration: 12,
          resolution: '720p',
          reference_video_urls: ['https://example.com/a.mp4'],
        },
        { duration: 5, count: 2 },
      ],
    });
    const out = structuredOf<{
      total_credits: number;
      fits: boolean;
      budget: { remaining: number };
      cheaper_options: { index: number; change: string; credits: number }[];
    }>(result);
    expect(out.total_credits).toBe(96 + 2 * 20);
    expect(out.budget.remaining).toBe(100);
    expect(out.fits).toBe(false);
    expect(out.cheaper_options.length).toBeGreaterThan(0);
    for (const option of out.cheaper_options.filter((o) => o.index === 0)) {
      expect(option.credits + 40).toBeLessThanOrEqual(100);
    }
    expect(out.cheaper_options.map((o) => o.change)).toContain('without reference_video_urls');
  });

  it('refuses what Seedance cannot honour, as generate_video does', async () => {
    const h = await start();
    const result = await h.call('estimate_cost', { end_image: 'https://example.com/end.png' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/end_image: end_image needs start_image/);
  });

  it('refuses top-level fields mixed with a list of videos, naming them', async () => {
    const h = await start();
    const result = await h.call('estimate_cost', { duration: 5, videos: [{ duration: 6 }] });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/duration: give either/);
  });

  it('works with no API key, and says the balance is unknown', async () => {
    const h = await start({ config: { apiKey: undefined } });
    const result = await h.call('estimate_cost', { duration: 4 });
    expect(result.isError).toBeFalsy();
    expect(structuredOf(result)).toMatchObject({ total_credits: 16, balance: { credits: null } });
    expect(h.sim.exchanges).toHaveLength(0);
  });
});

describe('generate_video', () => {
  it('submits once, waits with progress, downloads a playable MP4 and reports its cost', async () => {
    const h = await start({ config: { budgetCredits: 1000 } });
    const progress: Progress[] = [];
    const result = await h.call(
      'generate_video',
      { prompt: PROMPT, duration: 5, wait_seconds: 30 },
      { onprogress: (p) => progress.push(p) },
    );
    expect(result.isError).toBeFalsy();
    const out = structuredOf<VideoOutput>(result);
    expect(out.status).toBe('completed');
    expect(out.simulated).toBe(false);
    expect(out.submission).toBe('submitted');
    expect(out.params).toMatchObject({
      duration: 5,
      resolution: '720p',
      aspect_ratio: '16:9',
      generate_audio: true,
    });
    expect(out.cost).toMatchObject({
      estimated_credits: 20,
      charged_credits: 20,
      variant: '720p',
      new_charge: true,
    });
    expect(out.budget).toMatchObject({ limit: 1000, spent: 20, reserved: 0, remaining: 980 });
    expect(out.video?.path.startsWith(h.dirs.output)).toBe(true);
    expect(out.video?.path).toMatch(
      /\d{4}-\d{2}-\d{2}_a-red-kite-over-a-green-hill-at-dawn-slow-dolly_[0-9a-f]{8}\.mp4$/,
    );
    const bytes = await readFile(out.video?.path ?? '');
    expect(await probeBytes('video', bytes)).toMatchObject({ codec: 'avc', seconds: 5 });
    expect(out.video?.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(out.video?.file_uri).toMatch(/^file:\/\//);
    expect(out.remote_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\//);
    expect(out.remote_urls_expire_at).not.toBeNull();
    const link = result.content.find((c) => c.type === 'resource_link');
    expect(link).toMatchObject({ uri: `seedance://jobs/${out.job_id}/video`, mimeType: 'video/mp4' });
    expect((link as { description: string }).description).toContain(out.video?.path);
    expect(textOf(result)).toContain('20 credits charged');
    // Progress: on every poll, strictly increasing, with status and percent in the message.
    expect(progress.length).toBeGreaterThan(0);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i]?.progress).toBeGreaterThan(progress[i - 1]?.progress ?? 0);
    expect(progress.some((p) => /(QUEUED|PROCESSING|COMPLETED) \d+%/.test(p.message ?? ''))).toBe(true);
    // Exactly one POST, with a key, the model and the parameters in seedanceParams.
    const submits = h.sim.exchangesFor('submit');
    expect(submits).toHaveLength(1);
    expect(submits[0]?.idempotencyKey).toMatch(/^seedance-mcp-/);
    expect(submits[0]?.requestBody).toMatchObject({
      model: 'seedance-2',
      prompt: PROMPT,
      seedanceParams: { duration: 5, resolution: '720p', aspect_ratio: '16:9' },
    });
    // Nothing left behind but the video.
    expect(await readdir(h.dirs.output)).toEqual([out.video?.path.split('/').pop()]);
  });

  it('returns the last frame as a file and an inline preview when asked', async () => {
    const h = await start();
    const result = await h.call('generate_video', { prompt: PROMPT, return_last_frame: true });
    const out = structuredOf<VideoOutput>(result);
    expect(out.last_frame?.path).toMatch(/_last-frame\.png$/);
    const image = result.content.find((c) => c.type === 'image');
    expect(image).toMatchObject({ mimeType: 'image/jpeg' });
    // A thumbnail, decoded to prove it is one: at most 320 px wide and 12 KB, the frame's shape kept.
    const thumb = Buffer.from((image as { data: string }).data, 'base64');
    expect(thumb.length).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
    const pixels = jpeg.decode(thumb);
    const frame = PNG.sync.read(await readFile(out.last_frame?.path ?? ''));
    expect(pixels.width).toBe(Math.min(PREVIEW_MAX_WIDTH, frame.width));
    expect(Math.abs(pixels.width / pixels.height - frame.width / frame.height)).toBeLessThan(0.02);
  });

  it('uploads a local start_image and submits it as an asset', async () => {
    const h = await start();
    const local = join(h.dirs.work, 'start.png');
    await copyFile(packageAsset('sample-start.png'), local);
    const result = await h.call('generate_video', { prompt: PROMPT, start_image: local });
    expect(result.isError).toBeFalsy();
    const out = structuredOf<VideoOutput>(result);
    expect(String(out.params.start_image)).toMatch(/^asset:\/\/asset-/);
    expect(h.sim.hits.get('upload')).toBe(1);
    expect(h.sim.hits.get('asset_create')).toBe(1);
  });

  it('returns "processing" with the exact next call when the deadline passes first, and get_video finishes it', async () => {
    const h = await start({ sim: { processingMs: 60_000 } });
    const result = await h.call('generate_video', { prompt: PROMPT, wait_seconds: 0 });
    expect(result.isError).toBeFalsy();
    const out = structuredOf<VideoOutput>(result);
    expect(['queued', 'processing']).toContain(out.status);
    expect(out.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.next_step).toContain(`get_video with job_id "${out.job_id}"`);
    expect(out.cost.estimated_credits).toBe(32);
    h.sim.forceJob(out.job_id ?? '', 'COMPLETED');
    const done = structuredOf<VideoOutput>(
      await h.call('get_video', { job_id: out.job_id, wait_seconds: 30 }),
    );
    expect(done.status).toBe('completed');
    expect(done.submission).toBe('existing');
    expect(done.video?.bytes).toBeGreaterThan(1000);
    expect(h.sim.jobCount).toBe(1);
  });

  it('reports a FAILED job as an unmistakable failure that says the credits were refunded', async () => {
    const h = await start({ config: { budgetCredits: 100 } });
    const result = await h.call('generate_video', { prompt: 'simulate-failure please' });
    expect(result.isError).toBe(true);
    const out = structuredOf<VideoOutput>(result);
    expect(out.status).toBe('failed');
    expect(out.cost.refunded).toBe(true);
    expect(out.budget).toMatchObject({ spent: 0, reserved: 0, remaining: 100 });
    expect(textOf(result)).toMatch(/FAILED.*refunded/s);
  });

  it('refuses over max_credits and over the budget before anything is sent, with cheaper variants', async () => {
    const h = await start({ config: { budgetCredits: 30 } });
    const over = await h.call('generate_video', { prompt: PROMPT, resolution: '1080p', max_credits: 60 });
    expect(over.isError).toBe(true);
    expect(textOf(over)).toMatch(/over max_credits 60/);
    expect(textOf(over)).toMatch(/duration 6 s \(60 credits\)/);
    const budget = await h.call('generate_video', { prompt: PROMPT });
    expect(budget.isError).toBe(true);
    expect(textOf(budget)).toMatch(/costs 32 credits but only 30 of the 30 credit budget/);
    expect(textOf(budget)).toMatch(/resolution 480p \(16 credits\)/);
    expect(h.sim.exchangesFor('submit')).toHaveLength(0);
  });

  it("delivers an error's code and details to client programs in _meta, masked like the text", async () => {
    const h = await start();
    const over = await h.call('generate_video', { prompt: PROMPT, resolution: '1080p', max_credits: 60 });
    expect(over.isError).toBe(true);
    expect(over._meta?.[ERROR_META_KEY]).toMatchObject({
      code: 'over_max_credits',
      details: { maxCredits: 60, estimate: { credits: 80 }, cheaperOptions: expect.any(Array) },
    });
    const unknown = await h.call('get_video', { job_id: '0b5f2a8e-3c1d-4e7f-8a9b-0c1d2e3f4a5b' });
    expect(unknown._meta?.[ERROR_META_KEY]).toMatchObject({ code: 'not_found', details: { status: 404 } });
    expect(JSON.stringify(unknown)).not.toContain(TEST_KEY);
  });

  it.each([
    [{ prompt: PROMPT, duration: 3 }, 'duration'],
    [{ prompt: PROMPT, duration: 16 }, 'duration'],
    [{ prompt: PROMPT, duration: 4.5 }, 'duration'],
    [
      {
        prompt: PROMPT,
        reference_image_urls: Array.from({ length: 10 }, (_, i) => `https://e.com/${i}.png`),
      },
      'reference_image_urls',
    ],
    [{ prompt: PROMPT, colour: 'red' }, 'colour'],
    [{ prompt: '' }, 'prompt'],
    [{ prompt: 'x'.repeat(4001) }, 'prompt'],
    [{ prompt: PROMPT, aspect_ratio: '5:4' }, 'aspect_ratio'],
    [{ prompt: PROMPT, model: 'seedance-2-fast', resolution: '1080p' }, 'resolution'],
    [{ prompt: PROMPT, model: 'seedance-3' }, 'model'],
    [{ duration: 5 }, 'prompt'],
  ])('refuses invalid arguments %j naming %s, without reaching upstream', async (args, field) => {
    const h = await start();
    const result = await h.call('generate_video', args);
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(new RegExp(`Invalid arguments: .*\\b${field}\\b`));
    expect(textOf(result)).toMatch(/What to do:/);
    expect(h.sim.exchanges).toHaveLength(0);
  });

  it('names the resolutions a model makes when it is asked for another', async () => {
    const h = await start();
    const result = await h.call('generate_video', {
      prompt: PROMPT,
      model: 'seedance-2-mini',
      resolution: '1080p',
    });
    expect(textOf(result)).toMatch(/seedance-2-mini makes 480p, 720p only/);
    expect(h.sim.exchanges).toHaveLength(0);
  });

  it('refuses 4k without max_credits, saying it has no published price and what to do', async () => {
    const h = await start();
    const result = await h.call('generate_video', { prompt: PROMPT, resolution: '4k' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/seedance-2 at 4k has no published price/);
    expect(textOf(result)).toMatch(/Give max_credits/);
    expect(h.sim.exchanges).toHaveLength(0);
  });

  it('maps upstream errors to results that say what to do: 400, 401, 402, 429', async () => {
    const h = await start({ sim: { credits: 10 } });
    const poor = await h.call('generate_video', { prompt: PROMPT });
    expect(poor.isError).toBe(true);
    expect(textOf(poor)).toMatch(/insufficient_credits.*required 32, available 10/s);
    const unknownAsset = await h.call('generate_video', {
      prompt: PROMPT,
      start_image: 'asset://asset-nope',
    });
    expect(unknownAsset.isError).toBe(true);
    expect(textOf(unknownAsset)).toMatch(/upstream_validation.*seedanceParams\.start_image: Unknown asset/s);
    h.sim.addFault({ route: 'submit', kind: 'rate_limit', retryAfterSeconds: 3600 });
    const limited = await h.call('generate_video', { prompt: PROMPT, duration: 4, resolution: '480p' });
    expect(limited.isError).toBe(true);
    expect(textOf(limited)).toMatch(/rate_limited.*retry after 3600 s/s);
    // Nothing was charged or left reserved by the refusals.
    expect(h.sim.jobCount).toBe(0);
    expect((await h.services.ledger.budget()).reserved).toBe(0);
  });

  it('says how to set the key when it is missing, and names the variable', async () => {
    const h = await start({ config: { apiKey: undefined } });
    const result = await h.call('generate_video', { prompt: PROMPT });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/APIFRAME_API_KEY/);
    expect(textOf(result)).toMatch(/--simulate/);
  });

  it('says an invalid key is an authentication problem, without echoing it', async () => {
    const h = await start({ config: { apiKey: 'afk_inactive' } });
    const result = await h.call('generate_video', { prompt: PROMPT });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/authentication.*API key is inactive.*APIFRAME_API_KEY/s);
  });

  it('stops waiting when the client cancels, while the job runs on and is finished in the background', async () => {
    const h = await start({ sim: { processingMs: 60_000 } });
    const controller = new AbortController();
    const pending = h.call(
      'generate_video',
      { prompt: PROMPT, wait_seconds: 60 },
      { signal: controller.signal },
    );
    await waitUntil(() => h.sim.jobCount > 0);
    controller.abort();
    await expect(pending).rejects.toThrow();
    const [jobId] = [...h.sim.jobs.keys()];
    h.sim.forceJob(jobId ?? '', 'COMPLETED');
    await waitUntil(async () => (await h.services.ledger.findByJobId(jobId ?? ''))?.downloads.length);
    expect(h.sim.jobCount).toBe(1);
  });
});

describe('get_video', () => {
  it('finds a job of the account that this server never submitted', async () => {
    const h = await start();
    const accepted = await fetch(`${h.sim.url}/v2/videos/generate`, {
      method: 'POST',
      headers: { 'x-api-key': TEST_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'seedance-2',
        prompt: 'made elsewhere',
        seedanceParams: { duration: 4 },
      }),
    }).then((r) => r.json() as Promise<{ jobId: string }>);
    const result = await h.call('get_video', { job_id: accepted.jobId, wait_seconds: 30 });
    const out = structuredOf<VideoOutput>(result);
    expect(out.status).toBe('completed');
    expect(out.video?.path).toMatch(/made-elsewhere/);
  });

  it('answers 404 with advice for an unknown job, and a bad id names the field', async () => {
    const h = await start();
    const missing = await h.call('get_video', { job_id: '00000000-0000-4000-8000-000000000000' });
    expect(missing.isError).toBe(true);
    expect(textOf(missing)).toMatch(/not_found.*list_videos/s);
    const bad = await h.call('get_video', { job_id: 'nope' });
    expect(textOf(bad)).toMatch(/job_id/);
    expect(h.sim.exchangesFor('job').filter((e) => e.path.includes('nope'))).toHaveLength(0);
  });
});

describe('upload_asset', () => {
  it('uploads a local file once, then reuses its asset by sha256', async () => {
    const h = await start();
    const local = join(h.dirs.work, 'photo.png');
    await copyFile(packageAsset('sample-start.png'), local);
    const first = structuredOf(await h.call('upload_asset', { source: local }));
    const bytes = await readFile(local);
    expect(first).toMatchObject({
      type: 'image',
      source: 'local',
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      reused: false,
      status: 'Active',
    });
    expect(String(first.asset_uri)).toBe(`asset://${String(first.asset_id)}`);
    const second = structuredOf(await h.call('upload_asset', { source: local }));
    expect(second).toMatchObject({ asset_id: first.asset_id, reused: true });
    expect(h.sim.hits.get('upload')).toBe(1);
  });

  it('registers a URL, sniffing its type from the first bytes', async () => {
    const h = await start();
    const done = structuredOf<VideoOutput>(await h.call('generate_video', { prompt: PROMPT }));
    const out = structuredOf(await h.call('upload_asset', { source: done.remote_url }));
    expect(out).toMatchObject({ type: 'video', source: 'url', status: 'Active', bytes: null });
  });

  it('refuses files outside the allowed folders, through symlinks, and hidden ones', async () => {
    const h = await start();
    const outside = join(h.dirs.root, 'outside.png');
    await copyFile(packageAsset('sample-start.png'), outside);
    const link = join(h.dirs.work, 'link.png');
    await symlink(outside, link);
    await mkdir(join(h.dirs.work, '.secret'));
    const hidden = join(h.dirs.work, '.secret', 'x.png');
    await copyFile(packageAsset('sample-start.png'), hidden);
    for (const source of [outside, link, hidden, join(h.dirs.work, '..', 'outside.png')]) {
      const result = await h.call('upload_asset', { source });
      expect(result.isError, source).toBe(true);
      expect(textOf(result)).toMatch(/path_not_allowed/);
    }
    const relative = await h.call('upload_asset', { source: 'photo.png' });
    expect(textOf(relative)).toMatch(/absolute/);
    expect(h.sim.hits.get('upload')).toBeUndefined();
  });

  it("narrows the allowed folders to the client's roots", async () => {
    const h = await start({ roots: (dirs) => [join(dirs.work, 'project')] });
    await mkdir(join(h.dirs.work, 'project'));
    const inside = join(h.dirs.work, 'project', 'a.png');
    const notInRoot = join(h.dirs.work, 'b.png');
    await copyFile(packageAsset('sample-start.png'), inside);
    await copyFile(packageAsset('sample-start.png'), notInRoot);
    const refused = await h.call('upload_asset', { source: notInRoot });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/outside the client's declared roots/);
    const allowed = await h.call('upload_asset', { source: inside });
    expect(allowed.isError).toBeFalsy();
  });
});

describe('list_videos', () => {
  it('lists recent jobs from the ledger with cost and path, newest first', async () => {
    const h = await start();
    await h.call('generate_video', { prompt: 'first video', duration: 4 });
    await h.call('generate_video', { prompt: 'second video', duration: 5 });
    const out = structuredOf<{
      videos: { prompt: string; credits: number; path: string | null; status: string }[];
    }>(await h.call('list_videos', {}));
    expect(out.videos.map((v) => v.prompt)).toEqual(['second video', 'first video']);
    expect(out.videos.map((v) => v.credits)).toEqual([
      5 * (DEFAULT_PRICES['720p'] ?? Number.NaN),
      4 * (DEFAULT_PRICES['720p'] ?? Number.NaN),
    ]);
    expect(out.videos.every((v) => v.status === 'completed' && v.path !== null)).toBe(true);
  });

  it('takes back every next_cursor it gives, even after jobs with the longest idempotency keys', async () => {
    const h = await start();
    const prompts = ['first take', 'second take', 'third take'];
    for (const [i, prompt] of prompts.entries()) {
      const key = `${'k'.repeat(AGENT_IDEMPOTENCY_KEY_MAX - 1)}${i}`;
      await h.call('generate_video', { prompt, idempotency_key: key, wait_seconds: 0 });
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: CallToolResult = await h.call('list_videos', {
        limit: 1,
        ...(cursor === null ? {} : { cursor }),
      });
      expect(page.isError).toBeFalsy();
      const out = structuredOf<{ videos: { prompt: string }[]; next_cursor: string | null }>(page);
      seen.push(...out.videos.map((v) => v.prompt));
      cursor = out.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual([...prompts].reverse());
  });
});
