/**
 * Hostile files and paths: what upload_asset and the media fields may read, what a download may write, and what the
 * output names built from prompts may become. Nothing outside the allowed folders is read; nothing outside the
 * output folder is written; nothing half-written is left.
 */
import { execFileSync } from 'node:child_process';
import {
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiframeClient } from '../../src/apiframe/client.js';
import { DownloadError } from '../../src/core/errors.js';
import { packageAsset } from '../../src/core/package-files.js';
import { openLocalMedia } from '../../src/inputs/local-files.js';
import { downloadFile } from '../../src/jobs/download.js';
import { outputBaseName } from '../../src/jobs/naming.js';
import type { VideoOutput } from '../../src/mcp/tools/shapes.js';
import { structuredOf, textOf } from '../helpers/mcp.js';
import { CANARY_KEY, Outbox } from './canary.js';
import { type ReliableHarness, reliableHarness } from './harness.js';
import { completedJob, json, ME, startHostile } from './hostile.js';
import { useTally } from './tally.js';

const figures = useTally('files');
const outbox = new Outbox();
const SEED = Number(process.env.RELIABILITY_SEED ?? 20_261_126);
let h: ReliableHarness;
let png: Buffer;

beforeAll(async () => {
  outbox.captureLogs();
  h = await reliableHarness(outbox, figures);
  png = await readFile(packageAsset('sample-start.png'));
});
afterAll(async () => {
  figures.jobsCreated += h.sim.jobCount;
  await h.close();
  outbox.release();
});

/** Each refused source: an isError with the right code, and no upload or asset upstream. */
async function expectRefused(source: string, code: RegExp, tool = 'upload_asset') {
  figures.scenarios += 1;
  const uploads = h.sim.hits.get('upload') ?? 0;
  const assets = h.sim.hits.get('asset_create') ?? 0;
  const result =
    tool === 'upload_asset'
      ? await h.call('upload_asset', { source })
      : await h.call('generate_video', { prompt: 'hostile file', start_image: source, wait_seconds: 0 });
  expect(result.isError, `${source}: ${textOf(result)}`).toBe(true);
  expect(textOf(result)).toMatch(code);
  expect(textOf(result)).toMatch(/\nWhat to do: \S/);
  expect(h.sim.hits.get('upload') ?? 0).toBe(uploads);
  expect(h.sim.hits.get('asset_create') ?? 0).toBe(assets);
  expect(h.sim.jobCount).toBe(0);
  return textOf(result);
}

describe('paths that try to leave the allowed folder', () => {
  it('.. in every spelling is refused, by upload_asset and by the media fields', async () => {
    const outside = join(h.dirs.root, 'outside.png');
    await writeFile(outside, png);
    const w = h.dirs.work;
    const sources = [
      `${w}/../outside.png`,
      `${w}/a/b/../../../outside.png`,
      `${w}/./../outside.png`,
      `file://${w}/../outside.png`,
      `file://${w}/%2e%2e/outside.png`,
      `file://${w}/%2E%2E/outside.png`,
      `file://${w}/..%2foutside.png`,
      `file://${w}/%252e%252e/outside.png`,
      `${w}/%2e%2e/outside.png`,
      `${w}/..\\outside.png`,
      `${w}//..//outside.png`,
      outside,
      '/etc/passwd',
      '/proc/self/environ',
      `file:///etc/passwd`,
      `file://evil.example${w}/x.png`,
      `file://localhost${w}/../outside.png`,
    ];
    for (const source of sources) {
      await expectRefused(source, /path_not_allowed|file_rejected/);
      await expectRefused(source, /path_not_allowed|file_rejected/, 'generate_video');
    }
  });

  it('symlinks and hard links that lead outside, or to a hidden file, are refused', async () => {
    const w = h.dirs.work;
    const outsideDir = join(h.dirs.root, 'elsewhere');
    await mkdir(outsideDir, { recursive: true });
    await writeFile(join(outsideDir, 'secret.png'), png);
    await symlink(join(outsideDir, 'secret.png'), join(w, 'file-link.png'));
    await symlink(outsideDir, join(w, 'dir-link'));
    await symlink(join(w, 'file-link.png'), join(w, 'chain.png'));
    await symlink('/etc/passwd', join(w, 'passwd.png'));
    await symlink(join(w, 'loop-b.png'), join(w, 'loop-a.png'));
    await symlink(join(w, 'loop-a.png'), join(w, 'loop-b.png'));
    await link(join(outsideDir, 'secret.png'), join(w, 'hard-link.png'));
    await mkdir(join(w, '.hidden'), { recursive: true });
    await writeFile(join(w, '.hidden', 'x.png'), png);
    await writeFile(join(w, '.dotfile.png'), png);
    await symlink(join(w, '.hidden', 'x.png'), join(w, 'visible-to-hidden.png'));
    for (const [name, code] of [
      ['file-link.png', /path_not_allowed/],
      ['dir-link/secret.png', /path_not_allowed/],
      ['chain.png', /path_not_allowed/],
      ['passwd.png', /path_not_allowed/],
      ['loop-a.png', /file_rejected.*ELOOP/s],
      ['hard-link.png', /path_not_allowed.*hard link/s],
      ['.hidden/x.png', /path_not_allowed.*hidden/s],
      ['.dotfile.png', /path_not_allowed.*hidden/s],
      ['visible-to-hidden.png', /path_not_allowed.*hidden/s],
    ] as const) {
      await expectRefused(join(w, name), code);
    }
  });
});

describe('files that are not what they seem', () => {
  it('a directory, a FIFO (without hanging), an empty file and a missing file are refused', async () => {
    const w = h.dirs.work;
    await mkdir(join(w, 'folder.png'));
    execFileSync('mkfifo', [join(w, 'pipe.png')]);
    await writeFile(join(w, 'empty.png'), '');
    await expectRefused(join(w, 'folder.png'), /file_rejected.*not a regular file/s);
    await expectRefused(join(w, 'pipe.png'), /file_rejected.*not a regular file/s);
    await expectRefused(join(w, 'empty.png'), /file_rejected.*not a file type/s);
    await expectRefused(join(w, 'missing.png'), /file_rejected.*no such file/s);
  });

  it('device files are refused without reading them, even inside an allowed folder', async () => {
    const dev = await reliableHarness(outbox, figures, { config: { allowedDirs: ['/dev'] } });
    try {
      for (const device of ['/dev/zero', '/dev/random', '/dev/urandom', '/dev/null']) {
        figures.scenarios += 1;
        const result = await dev.call('upload_asset', { source: device });
        expect(result.isError, device).toBe(true);
        expect(textOf(result)).toMatch(/file_rejected.*not a regular file|path_not_allowed/s);
      }
      expect(dev.sim.hits.get('upload')).toBeUndefined();
    } finally {
      await dev.close();
    }
  });

  it('a type that lies about its extension is judged by its bytes', async () => {
    const w = h.dirs.work;
    await writeFile(join(w, 'notes.png'), 'just some text, not an image at all');
    await writeFile(join(w, 'page.mp4'), '<html><body>not a video</body></html>');
    await writeFile(join(w, 'image.mp4'), png);
    await expectRefused(join(w, 'notes.png'), /file_rejected.*not a file type/s);
    await expectRefused(join(w, 'page.mp4'), /file_rejected.*not a file type/s);
    figures.scenarios += 1;
    const asVideo = await h.call('upload_asset', { source: join(w, 'image.mp4'), type: 'video' });
    expect(textOf(asVideo)).toMatch(/file_rejected.*is an image \(image\/png\), not a video/s);
    figures.scenarios += 1;
    const asReference = await h.call('generate_video', {
      prompt: 'x',
      reference_video_urls: [join(w, 'image.mp4')],
      wait_seconds: 0,
    });
    expect(textOf(asReference)).toMatch(/file_rejected.*not a video/s);
    // Told nothing, the bytes decide: a PNG named .mp4 is uploaded as the image it is.
    figures.scenarios += 1;
    const sniffed = await h.call('upload_asset', { source: join(w, 'image.mp4') });
    expect(structuredOf(sniffed)).toMatchObject({ type: 'image' });
  });

  it('files over the size limits are refused before a byte is sent (sparse, so the test stays small)', async () => {
    const w = h.dirs.work;
    const big = async (name: string, head: Buffer, size: number) => {
      await writeFile(join(w, name), head);
      await truncate(join(w, name), size);
      return join(w, name);
    };
    const mp4Head = (await readFile(packageAsset('sim-video.mp4'))).subarray(0, 64);
    const uploads = h.sim.exchangesFor('upload').length;
    await expectRefused(
      await big('huge.png', png.subarray(0, 64), 25 * 1024 * 1024 + 1),
      /over .* 25\.0 MB limit/s,
    );
    await expectRefused(await big('huge.mp4', mp4Head, 50 * 1024 * 1024 + 1), /over .* 50\.0 MB limit/s);
    expect(h.sim.exchangesFor('upload').length).toBe(uploads);
  });
});

describe('a file that changes while it is uploaded', () => {
  const client = () =>
    new ApiframeClient({
      baseUrl: h.sim.url,
      apiKey: CANARY_KEY,
      timeoutMs: 5_000,
      maxRetries: 0,
      retryBaseMs: 1,
      retryCapMs: 1,
      maxRetryAfterMs: 1,
      userAgent: 'reliability',
    });
  const scope = () => ({ allowedDirs: [h.dirs.work] });

  it('shrinking mid-upload is an error, and nothing is registered', async () => {
    figures.scenarios += 1;
    const path = join(h.dirs.work, 'shrinks.png');
    await writeFile(path, Buffer.concat([png, Buffer.alloc(2 * 1024 * 1024, 7)]));
    const file = await openLocalMedia(path, scope());
    try {
      await truncate(path, 100);
      const uploads = h.sim.uploads.size;
      const error = await client()
        .uploadFile(file, { idempotencyKey: 'k-shrink' })
        .catch((e: unknown) => e);
      outbox.see(error);
      expect(error).toMatchObject({ code: 'file_rejected', message: expect.stringMatching(/shrank/) });
      expect(h.sim.uploads.size).toBe(uploads);
    } finally {
      await file.handle.close();
    }
  });

  it('growing or vanishing mid-upload sends exactly the bytes that were checked', async () => {
    for (const change of ['grows', 'vanishes'] as const) {
      figures.scenarios += 1;
      const path = join(h.dirs.work, `${change}.png`);
      await writeFile(path, png);
      const file = await openLocalMedia(path, scope());
      try {
        if (change === 'grows') {
          const more = await open(path, 'a');
          await more.write(Buffer.alloc(1024 * 1024, 1));
          await more.close();
        } else {
          await unlink(path);
        }
        const upload = await client().uploadFile(file, { idempotencyKey: `k-${change}` });
        expect(upload.byteSize).toBe(png.length);
        const stored = h.sim.uploads.get(upload.id);
        const { createHash } = await import('node:crypto');
        expect(stored?.sha256).toBe(createHash('sha256').update(png).digest('hex'));
      } finally {
        await file.handle.close();
      }
    }
  });
});

describe('output names built from prompts', () => {
  const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)$/i;

  it('are one safe file name for any prompt and any job id (fast-check)', () => {
    const hostilePrompt = fc.oneof(
      fc.string({ maxLength: 300, unit: 'binary' }),
      fc.constantFrom('CON', 'nul', 'Lpt1', 'com¹', '..', '../../etc/passwd', '/', '\\', '\u0000', '', ' . '),
      fc.constantFrom('C:\\Windows\\system32', 'a/b\\c:d*e?f"g<h>i|j', 'ＣＯＮ', 'x'.repeat(10_000)),
    );
    const hostileId = fc.oneof(
      fc.uuid(),
      fc.string({ maxLength: 60, unit: 'binary' }),
      fc.constant('../../..'),
    );
    fc.assert(
      fc.property(
        hostilePrompt,
        hostileId,
        fc.date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2999-12-31') }),
        (prompt, id, date) => {
          figures.fuzzCases += 1;
          const name = outputBaseName(prompt, id, date);
          expect(name).toMatch(/^\d{4}-\d{2}-\d{2}_[a-z0-9-]{1,48}_[A-Za-z0-9]{1,8}$/);
          expect(basename(name)).toBe(name);
          for (const part of name.split(/[._]/)) expect(part).not.toMatch(RESERVED);
          expect(name.length).toBeLessThan(80);
        },
      ),
      { seed: SEED, numRuns: 2_000 },
    );
    figures.scenarios += 1;
  });

  it('keep every download inside the output folder, through the tools', async () => {
    const prompts = [
      'CON',
      'nul',
      '../../../../tmp/escape',
      '/etc/passwd',
      '..',
      '\u0000',
      'a\\..\\..\\b',
      'ＣＯＮ',
    ];
    for (const prompt of prompts) {
      figures.scenarios += 1;
      figures.logicalCalls += 1;
      const out = structuredOf<VideoOutput>(await h.call('generate_video', { prompt, duration: 4 }));
      expect(out.status).toBe('completed');
      expect(out.video?.path.startsWith(`${h.dirs.output}/`)).toBe(true);
      expect(basename(out.video?.path ?? '')).not.toMatch(/^\./);
    }
    const root = await readdir(h.dirs.root);
    expect(
      root.every((entry) => ['work', 'output', 'state', 'outside.png', 'elsewhere'].includes(entry)),
    ).toBe(true);
    const saved = await readdir(h.dirs.output);
    expect(saved).toHaveLength(prompts.length);
    expect(saved.every((f) => /^\d{4}-\d{2}-\d{2}_[a-z0-9-]+_[0-9a-f]{8}\.mp4$/.test(f))).toBe(true);
  });
});

describe('downloads', () => {
  it('a symlink planted at the name a download will take is replaced, and what it pointed at is untouched', async () => {
    figures.scenarios += 1;
    figures.logicalCalls += 1;
    const slow = await reliableHarness(outbox, figures, { sim: { processingMs: 60_000 } });
    try {
      const prompt = 'planted link';
      const started = structuredOf<VideoOutput>(
        await slow.call('generate_video', { prompt, wait_seconds: 0 }),
      );
      const jobId = started.job_id ?? '';
      const record = await slow.services.ledger.findByJobId(jobId);
      const name = `${outputBaseName(prompt, jobId, new Date(record?.createdAt ?? ''))}.mp4`;
      const victim = join(slow.dirs.root, 'victim.txt');
      await writeFile(victim, 'precious');
      await mkdir(slow.dirs.output, { recursive: true });
      await symlink(victim, join(slow.dirs.output, name));
      slow.sim.forceJob(jobId, 'COMPLETED');
      const done = structuredOf<VideoOutput>(
        await slow.call('get_video', { job_id: jobId, wait_seconds: 5 }),
      );
      expect(done.video?.path).toBe(join(slow.dirs.output, name));
      expect(await readFile(victim, 'utf8')).toBe('precious');
      expect((await lstat(join(slow.dirs.output, name))).isFile()).toBe(true);
      figures.jobsCreated += slow.sim.jobCount;
    } finally {
      await slow.close();
    }
  });

  const options = { maxBytes: 64 * 1024, timeoutMs: 5_000, userAgent: 'reliability', fetch };

  it('a result URL that is not http(s) is refused, directly or through a redirect', async () => {
    const dir = join(h.dirs.root, 'downloads-scheme');
    const redirect = await startHostile((_req, res) => {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
    });
    try {
      for (const url of [
        'file:///etc/passwd',
        'ftp://example.com/video.mp4',
        'data:video/mp4;base64,AAAAIGZ0eXBpc29t',
        'javascript:alert(1)',
        '/etc/passwd',
        `${redirect.url}/video.mp4`,
      ]) {
        figures.scenarios += 1;
        const error = await downloadFile(url, dir, 'x.mp4', options).catch((e: unknown) => e);
        outbox.see(error);
        expect(error, url).toBeInstanceOf(DownloadError);
      }
      expect(await readdir(dir).catch(() => [])).toEqual([]);
    } finally {
      await redirect.close();
    }
  });

  it('a download over the size cap stops, with or without a Content-Length, and leaves nothing', async () => {
    const dir = join(h.dirs.root, 'downloads-cap');
    let stopped = 0;
    const endless = await startHostile((req, res) => {
      if (req.url === '/declared') {
        res.writeHead(200, {
          'content-type': 'video/mp4',
          'content-length': String(10 * 1024 * 1024 * 1024),
        });
        res.write(Buffer.alloc(1024));
        return;
      }
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const chunk = Buffer.alloc(16 * 1024, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {}
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => {
        stopped += 1;
      });
      pump();
    });
    try {
      for (const path of ['/declared', '/chunked']) {
        figures.scenarios += 1;
        const error = await downloadFile(`${endless.url}${path}`, dir, 'big.mp4', options).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(DownloadError);
        expect((error as DownloadError).message).toMatch(/larger .* than SEEDANCE_MAX_DOWNLOAD_MB/);
      }
      expect(await readdir(dir)).toEqual([]);
      await expect.poll(() => stopped).toBe(1);
    } finally {
      await endless.close();
    }
  });

  it('through the tools: a video over SEEDANCE_MAX_DOWNLOAD_MB is not saved, its remote URL is returned', async () => {
    figures.scenarios += 1;
    figures.logicalCalls += 1;
    const small = await reliableHarness(outbox, figures, { config: { maxDownloadMb: 0.01 } });
    try {
      const out = structuredOf<VideoOutput>(
        await small.call('generate_video', { prompt: 'too big', duration: 4 }),
      );
      expect(out.status).toBe('completed');
      expect(out.video).toBeNull();
      expect(out.remote_url).toMatch(/^http:/);
      expect(out.warnings.join(' ')).toMatch(/SEEDANCE_MAX_DOWNLOAD_MB/);
      expect(await readdir(small.dirs.output).catch(() => [])).toEqual([]);
      figures.jobsCreated += small.sim.jobCount;
    } finally {
      await small.close();
    }
  });

  it("through the tools: an upstream job whose result is a file:// URL is not fetched, and the key isn't sent", async () => {
    figures.scenarios += 1;
    const jobId = '6f1d3c9e-2b4a-4e8f-9a7b-1c2d3e4f5a6b';
    const upstream = await startHostile((req, res) => {
      if (req.url === '/v2/me') return json(res, 200, ME);
      if (req.url === `/v2/jobs/${jobId}`)
        return json(res, 200, completedJob(jobId, { videoUrl: 'file:///etc/passwd' }));
      json(res, 404, { error: 'Not found' });
    });
    const hh = await reliableHarness(outbox, figures, { config: { baseUrl: upstream.url } });
    try {
      const out = structuredOf<VideoOutput>(await hh.call('get_video', { job_id: jobId, wait_seconds: 5 }));
      expect(out.status).toBe('completed');
      expect(out.video).toBeNull();
      expect(out.warnings.join(' ')).toMatch(/scheme file:/);
      expect(await readdir(hh.dirs.output).catch(() => [])).toEqual([]);
    } finally {
      await hh.close();
      await upstream.close();
    }
  });
});

describe('the canary key', () => {
  it('appears in no result, error or log line of this file', () => {
    figures.leaks += outbox.leaks();
    expect(outbox.leakSamples()).toEqual([]);
    expect(figures.crashes).toBe(0);
  });
});
