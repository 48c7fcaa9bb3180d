/**
 * The agent workflow of issue 9, end to end through a real MCP client: shots chained from the server's own last
 * frames whatever the client's roots say, Seedance's rules refused before anything goes upstream (in both tools),
 * results that fit a model's context, and a text block that says what matters.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { packageAsset } from '../src/core/package-files.js';
import { expandPath } from '../src/inputs/local-files.js';
import type { VideoOutput } from '../src/mcp/tools/shapes.js';
import { SimulatedMedia } from '../src/simulator/media.js';
import { structuredOf, textOf, useHarness } from './helpers/mcp.js';
import { useTempDirs } from './helpers/temp.js';

const tempDir = useTempDirs();
const start = useHarness();
const PROMPT = 'A lighthouse keeper climbs the stairs at dusk';

/** A folder outside the harness's home folder (its root): where the videos go in the chain test. */
function outsideHome(): Promise<string> {
  return tempDir('seedance-output-elsewhere-');
}

function png(width: number, height: number): Buffer {
  const image = new PNG({ width, height });
  image.data.fill(200);
  return PNG.sync.write(image);
}

/** A WAV of silence: 8 kHz, mono, 16-bit. */
function wav(seconds: number): Buffer {
  const samples = 8000 * seconds;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + samples * 2, 4);
  header.write('WAVEfmt ', 8, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(samples * 2, 40);
  return Buffer.concat([header, Buffer.alloc(samples * 2)]);
}

describe('chaining shots', () => {
  it('makes a three-shot chain from its own last frames, with roots that do not cover the output folder', async () => {
    const output = await outsideHome();
    const h = await start({ config: { outputDir: output }, roots: (dirs) => [dirs.work] });
    const shots: VideoOutput[] = [];
    for (const scene of ['opens the door', 'climbs the stairs', 'lights the lamp']) {
      const previous = shots.at(-1);
      const result = await h.call('generate_video', {
        prompt: `${PROMPT}: ${scene}`,
        duration: 4,
        return_last_frame: true,
        ...(previous === undefined ? {} : { start_image: previous.last_frame?.path }),
      });
      expect(result.isError, textOf(result)).toBeFalsy();
      const out = structuredOf<VideoOutput>(result);
      expect(out.status).toBe('completed');
      expect(out.video?.path.startsWith(output)).toBe(true);
      expect(out.last_frame?.path.startsWith(output)).toBe(true);
      // The text tells the agent how to chain.
      expect(textOf(result)).toContain(`start_image: "${out.last_frame?.path}"`);
      shots.push(out);
    }
    const submitted = h.sim
      .exchangesFor('submit')
      .map((e) => (e.requestBody as { seedanceParams: { start_image?: string } }).seedanceParams.start_image);
    expect(submitted).toHaveLength(3);
    expect(submitted[0]).toBeUndefined();
    expect(submitted[1]).toMatch(/^asset:\/\//);
    expect(submitted[2]).toMatch(/^asset:\/\//);
    // Each job's last frame is its own, so each chained shot started from a different asset.
    expect(submitted[1]).not.toBe(submitted[2]);
    expect(h.sim.hits.get('upload')).toBe(2);

    // The same frame used twice is uploaded once.
    const again = await h.call('generate_video', {
      prompt: `${PROMPT}: the lamp from outside`,
      duration: 4,
      start_image: shots[1]?.last_frame?.path,
    });
    expect(again.isError, textOf(again)).toBeFalsy();
    expect(h.sim.hits.get('upload')).toBe(2);
    const last = h.sim.exchangesFor('submit').at(-1)?.requestBody as {
      seedanceParams: { start_image: string };
    };
    expect(last.seedanceParams.start_image).toBe(submitted[2]);
  });

  it('trusts only what is in the output folder: a file beside it is still refused', async () => {
    const output = await outsideHome();
    const h = await start({ config: { outputDir: join(output, 'videos') }, roots: (dirs) => [dirs.work] });
    const beside = join(output, 'beside.png');
    await copyFile(packageAsset('sample-start.png'), beside);
    const result = await h.call('generate_video', { prompt: PROMPT, start_image: beside });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/path_not_allowed/);
    expect(h.sim.exchanges).toHaveLength(0);
  });

  it('names SEEDANCE_ALLOWED_DIRS for a file inside a root but outside the allowed folders', async () => {
    const h = await start({ roots: (dirs) => [dirs.root] });
    const inRoot = join(h.dirs.root, 'in-root.png');
    await copyFile(packageAsset('sample-start.png'), inRoot);
    const result = await h.call('upload_asset', { source: inRoot });
    expect(result.isError).toBe(true);
    const text = textOf(result);
    expect(text).toMatch(/SEEDANCE_ALLOWED_DIRS/);
    expect(text).not.toMatch(/roots/);
  });

  it('reads ~/x.png in the home folder', () => {
    expect(expandPath('~/x.png')).toBe(join(homedir(), 'x.png'));
  });
});

describe('Seedance rules: refused before anything goes upstream, in generate_video and estimate_cost', () => {
  const url = (name: string) => `https://example.com/${name}`;
  const cases: [string, (work: string) => Promise<Record<string, unknown>>, RegExp][] = [
    [
      'end_image without start_image',
      async () => ({ end_image: url('end.png') }),
      /end_image: end_image needs start_image/,
    ],
    [
      'reference audio without a reference image or video',
      async () => ({ reference_audio_urls: [url('a.mp3')] }),
      /reference_audio_urls: .*needs a reference image or video/,
    ],
    [
      'frames and references together',
      async () => ({ start_image: url('s.png'), reference_image_urls: [url('r.png')] }),
      /start_image: first\/last-frame mode .* are exclusive/,
    ],
    [
      'thirteen reference files',
      async () => ({
        reference_image_urls: Array.from({ length: 9 }, (_, i) => url(`${i}.png`)),
        reference_video_urls: [url('1.mp4'), url('2.mp4'), url('3.mp4')],
        reference_audio_urls: [url('a.mp3')],
      }),
      /at most 12 reference files in all .*; 13 were given/,
    ],
    [
      'a reference image too small',
      async (work) => {
        const path = join(work, 'small.png');
        await writeFile(path, png(200, 200));
        return { reference_image_urls: [path] };
      },
      /reference_image_urls\[0\]: 200x200 px is outside 300-6000 px a side/,
    ],
    [
      'a reference image too wide',
      async (work) => {
        const path = join(work, 'wide.png');
        await writeFile(path, png(1000, 300));
        return { reference_image_urls: [path] };
      },
      /aspect 3\.33 .* is outside 0\.4-2\.5/,
    ],
    [
      'reference videos under 2 s in all',
      async (work) => {
        const path = join(work, 'short.mp4');
        await copyFile(packageAsset('sim-video-16x9.mp4'), path);
        return { reference_video_urls: [path] };
      },
      /reference videos must last 2-15 s in all; these last 1\.0 s/,
    ],
    [
      'reference videos over 15 s in all',
      async (work) => {
        const path = join(work, 'long.mp4');
        await writeFile(path, await new SimulatedMedia().video('16:9', 16));
        return { reference_video_urls: [path] };
      },
      /these last 16\.0 s/,
    ],
    [
      'reference audio over 15 s in all',
      async (work) => {
        const a = join(work, 'a.wav');
        const b = join(work, 'b.wav');
        await writeFile(a, wav(8));
        await writeFile(b, wav(8));
        return { reference_image_urls: [url('r.png')], reference_audio_urls: [a, b] };
      },
      /reference audio may last at most 15 s in all; these last 16\.0 s/,
    ],
  ];

  for (const [rule, args, message] of cases) {
    it(`refuses ${rule}`, async () => {
      const h = await start();
      const given = await args(h.dirs.work);
      for (const [tool, extra] of [
        ['generate_video', { prompt: PROMPT }],
        ['estimate_cost', {}],
      ] as const) {
        const result = await h.call(tool, { ...extra, ...given });
        expect(result.isError, `${tool}: ${textOf(result)}`).toBe(true);
        expect(textOf(result), tool).toMatch(/invalid_arguments/);
        expect(textOf(result), tool).toMatch(message);
        expect(textOf(result), tool).toMatch(/What to do: .*call again/);
      }
      expect(h.sim.exchanges).toEqual([]);
    });
  }

  it('accepts reference media within the limits, measured locally', async () => {
    const h = await start();
    const video = join(h.dirs.work, 'ref.mp4');
    const audio = join(h.dirs.work, 'ref.wav');
    await writeFile(video, await new SimulatedMedia().video('16:9', 3));
    await writeFile(audio, wav(5));
    const result = await h.call('generate_video', {
      prompt: PROMPT,
      duration: 4,
      reference_video_urls: [video],
      reference_audio_urls: [audio],
    });
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(h.sim.hits.get('upload')).toBe(2);
  });

  it('warns about remote media it cannot measure', async () => {
    const h = await start();
    const result = await h.call('estimate_cost', { reference_video_urls: [url('v.mp4')] });
    expect(result.isError).toBeFalsy();
    const text = textOf(result);
    expect(text).toMatch(
      /Not measured \(a URL\): reference_video_urls\[0\]\. Seedance needs reference videos of 2-15 s/,
    );
    expect(text).not.toMatch(/px a side/);
  });
});

describe('results that fit a context and say what matters', () => {
  it('keeps a result with a large, noisy last frame under 24 KB, with a thumbnail', async () => {
    const h = await start({ sim: { lastFrame: { width: 1920, height: 1080, noisy: true } } });
    const result = await h.call('generate_video', { prompt: PROMPT, return_last_frame: true });
    expect(result.isError, textOf(result)).toBeFalsy();
    const out = structuredOf<VideoOutput>(result);
    expect(out.last_frame?.bytes).toBeGreaterThan(1024 * 1024);
    expect(result.content.find((c) => c.type === 'image')).toMatchObject({ mimeType: 'image/jpeg' });
    expect(Buffer.byteLength(JSON.stringify(result))).toBeLessThan(24 * 1024);
  });

  it('says plainly that a reused request was not charged now', async () => {
    const h = await start({ config: { budgetCredits: 100 } });
    const args = { prompt: PROMPT, duration: 5 };
    const first = await h.call('generate_video', args);
    expect(textOf(first)).toMatch(/This call paid for a new job: 20 credits charged/);
    const second = await h.call('generate_video', args);
    const text = textOf(second);
    expect(text).toMatch(/^Job [0-9a-f-]{36}: completed/);
    expect(text).toMatch(/Reused: .*this call charged nothing now/);
    expect(text).toMatch(/Budget left 80 of 100 credits/);
    expect(text).toMatch(/Video: \//);
    expect(h.sim.jobCount).toBe(1);
  });

  it('reaches progress 100 when the job completes, in the result and the last notification', async () => {
    const h = await start();
    const progress: number[] = [];
    const result = await h.call(
      'generate_video',
      { prompt: PROMPT },
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(structuredOf<VideoOutput>(result)).toMatchObject({ status: 'completed', progress: 100 });
    expect(progress.at(-1)).toBe(100);
  });

  it('names the numbers in next_step while a video renders', async () => {
    const h = await start({ sim: { processingMs: 60_000 } });
    const result = await h.call('generate_video', { prompt: PROMPT, wait_seconds: 0 });
    const out = structuredOf<VideoOutput>(result);
    expect(out.next_step).toMatch(/wait_seconds up to 300/);
    expect(out.next_step).toMatch(/about 60 s/);
    expect(textOf(result)).toMatch(/Next: .*get_video/);
  });
});

describe('estimate_cost: plans that do not fit get plans that do', () => {
  it('offers plan-wide options, each with its plan total, best first', async () => {
    const h = await start({ config: { budgetCredits: 60 } });
    const shot = { duration: 5, resolution: '1080p' };
    const result = await h.call('estimate_cost', { videos: [shot, shot, shot] });
    const out = structuredOf<{
      fits: boolean;
      total_credits: number;
      plan_options: { change: string; total_credits: number }[];
      cheaper_options: { total_credits: number }[];
    }>(result);
    expect(out.fits).toBe(false);
    expect(out.total_credits).toBe(150);
    expect(out.plan_options.map((o) => o.change)).toEqual([
      'every shot at 720p at most',
      'only the first 1 of 3 videos',
    ]);
    expect(out.plan_options.map((o) => o.total_credits)).toEqual([60, 50]);
    for (const option of [...out.plan_options, ...out.cheaper_options])
      expect(option.total_credits).toBeLessThanOrEqual(60);
    expect(textOf(result)).toMatch(/Fits: every shot at 720p at most, plan total 60 credits/);
  });
});
