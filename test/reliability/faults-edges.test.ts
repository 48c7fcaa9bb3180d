/**
 * Upstream faults at the edges: the account balance failing or silent, an asset slow to activate, a download slower
 * than the call may wait, the job list failing while many jobs poll through it (and a job joining meanwhile), an
 * answer that never ends, identical calls racing a lost answer, a client that cancels mid-submission. The same
 * checks as faults.test.ts: the answer, the jobs upstream, the ledger and the budget.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageAsset } from '../../src/core/package-files.js';
import type { VideoOutput } from '../../src/mcp/tools/shapes.js';
import { structuredOf, textOf } from '../helpers/mcp.js';
import { faultKit, PRICE } from './fault-kit.js';
import { reliableHarness } from './harness.js';
import { json, ME, startHostile } from './hostile.js';

const { figures, outbox, harness, setUp, finish, expectOneCompletedVideo } = faultKit('faults-edges');

describe('faults on the account balance (/v2/me)', () => {
  it.each(['server_error', 'reset_before', 'malformed', 'slow'] as const)(
    '%s, lasting: every tool still answers, the balance says it is unknown',
    async (kind) => {
      const { h, args } = await setUp('generate_video', kind === 'slow' ? 300 : undefined);
      h.sim.addFault({ route: 'me', kind, times: 1_000 });
      const estimate = await h.call('estimate_cost', { duration: 4 });
      expect(estimate.isError, textOf(estimate)).toBeFalsy();
      expect(
        structuredOf<{ balance: { credits: number | null; unavailable: string | null } }>(estimate).balance,
      ).toMatchObject({ credits: null, unavailable: expect.any(String) });
      const video = structuredOf<VideoOutput>(await h.call('generate_video', args));
      await expectOneCompletedVideo(h, video);
      await finish(h, true);
    },
  );
});

describe('an account balance that never comes', () => {
  it('holds no answer more than 3 s, and is not waited for again at once (found: every call waited 3 timeouts)', async () => {
    const { h, args } = await setUp('generate_video', 10_000);
    h.sim.addFault({ route: 'me', kind: 'slow', times: 1_000, delayMs: 60_000 });
    const timed = async (tool: string, a: Record<string, unknown>) => {
      const started = Date.now();
      const result = await h.call(tool, a);
      return { result, ms: Date.now() - started };
    };
    const first = await timed('estimate_cost', { duration: 4 });
    expect(first.result.isError).toBeFalsy();
    expect(first.ms).toBeLessThan(4_500);
    expect(textOf(first.result)).toMatch(/costs 16 credits/);
    const second = await timed('estimate_cost', { duration: 4 });
    expect(second.ms).toBeLessThan(1_000);
    const video = await timed('generate_video', args);
    expect(video.ms).toBeLessThan(5_000);
    await expectOneCompletedVideo(h, structuredOf<VideoOutput>(video.result));
    await finish(h, true);
  });
});

describe('an asset slow to become Active', () => {
  it('the call gives up in time, and the same file again waits for that asset instead of uploading twice', async () => {
    const h = await harness({
      sim: { assetProcessingMs: 400 },
      services: { assetActivationMs: 50 },
    });
    const local = join(h.dirs.work, 'slow-asset.png');
    await copyFile(packageAsset('sample-start.png'), local);
    const first = await h.call('upload_asset', { source: local });
    expect(first.isError).toBe(true);
    expect(textOf(first)).toMatch(/asset_not_ready.*upload_asset with the same file will find it again/s);
    // Repeated as the advice says, until the asset is Active: never a second upload or registration.
    await expect
      .poll(async () => (await h.call('upload_asset', { source: local })).isError ?? false, {
        interval: 20,
        timeout: 5_000,
      })
      .toBe(false);
    const done = structuredOf(await h.call('upload_asset', { source: local }));
    expect(done).toMatchObject({ reused: true, status: 'Active' });
    expect(h.sim.hits.get('upload')).toBe(1);
    expect(h.sim.hits.get('asset_create')).toBe(1);
    await finish(h, false);
  });
});

describe('a result download slower than the call may wait', () => {
  it('the answer comes by the deadline (found: it waited for the whole download); the file is saved once', async () => {
    const { h, args } = await setUp('generate_video');
    h.sim.addFault({ route: 'file', kind: 'slow', times: 1, delayMs: 4_000 });
    const started = Date.now();
    const first = structuredOf<VideoOutput>(await h.call('generate_video', { ...args, wait_seconds: 1 }));
    expect(Date.now() - started).toBeLessThan(3_500);
    expect(first.status).toBe('completed');
    expect(first.video).toBeNull();
    expect(first.warnings.join(' ')).toMatch(/still being saved.*get_video/);
    expect(first.next_step).toMatch(/get_video/);
    const again = structuredOf<VideoOutput>(
      await h.call('get_video', { job_id: first.job_id, wait_seconds: 10 }),
    );
    expect(again.video?.bytes).toBeGreaterThan(1_000);
    expect(h.sim.hits.get('file')).toBe(1);
    await expectOneCompletedVideo(h, again);
    await finish(h, true);
  });
});

describe('faults on the job list, which polls many jobs at once', () => {
  const KINDS = [
    'rate_limit',
    'unavailable',
    'server_error',
    'reset_before',
    'reset_after',
    'malformed',
    'truncated',
  ];
  it.each(KINDS)('%s on every list poll: six jobs in flight still complete, each once', async (kind) => {
    const h = await harness({
      config: { budgetCredits: 1_000, timeoutMs: 500, maxRetries: 1 },
      sim: { processingMs: 500 },
      services: { poll: { firstMs: 5, factor: 1.5, capMs: 20, batchFrom: 4 } },
    });
    h.sim.addFault({ route: 'jobs', kind: kind as 'rate_limit', times: 1_000, retryAfterSeconds: 0.01 });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        h.call('generate_video', { prompt: `list fault ${kind} ${i}`, duration: 4, resolution: '480p' }),
      ),
    );
    for (const result of results) {
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(structuredOf<VideoOutput>(result).status).toBe('completed');
    }
    expect(h.sim.jobCount).toBe(6);
    expect(new Set(results.map((r) => structuredOf<VideoOutput>(r).job_id)).size).toBe(6);
    expect(await h.services.ledger.budget()).toMatchObject({ spent: 6 * PRICE, reserved: 0 });
    expect(h.sim.hits.get('jobs') ?? 0).toBeGreaterThan(0);
    figures.logicalCalls += 5;
    await finish(h, true);
  });
});

describe('an upstream whose answer never ends', () => {
  const JOB = '0b5f2a8e-3c1d-4e7f-8a9b-0c1d2e3f4a5b';
  it.each([
    ['a 200 that streams forever', 200, false],
    ['a 500 that streams forever', 500, false],
    ['a 200 declaring 10 GB', 200, true],
  ] as const)(
    '%s: cut off at 8 MB, an isError, the memory kept (found: it grew past 2 GB)',
    async (_, status, declared) => {
      const upstream = await startHostile((req, res) => {
        req.resume();
        if (req.url === '/v2/me') return json(res, 200, ME);
        res.writeHead(status, {
          'content-type': 'application/json',
          ...(declared ? { 'content-length': String(10 * 1024 ** 3) } : {}),
        });
        const chunk = Buffer.alloc(1 << 20, 0x20);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) {}
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      });
      const h = await reliableHarness(outbox, figures, {
        config: { baseUrl: upstream.url, timeoutMs: 20_000, maxRetries: 1 },
      });
      const local = join(h.dirs.work, 'frame.png');
      await copyFile(packageAsset('sample-start.png'), local);
      try {
        const rss = process.memoryUsage().rss;
        for (const [tool, args] of [
          ['get_video', { job_id: JOB, wait_seconds: 0 }],
          ['generate_video', { prompt: 'endless', duration: 4, wait_seconds: 0 }],
          ['upload_asset', { source: local }],
        ] as const) {
          figures.scenarios += 1;
          figures.faultsInjected += 1;
          const result = await h.call(tool, args);
          expect(result.isError, tool).toBe(true);
          expect(textOf(result)).toMatch(/larger than 8 MB/);
        }
        expect(process.memoryUsage().rss - rss).toBeLessThan(512 * 1024 * 1024);
      } finally {
        await h.close();
        await upstream.close();
      }
    },
  );
});

describe('a job that starts while the job list is being read, and the list fails', () => {
  it('is still polled once the others are done (found: it was never polled again, so never finished)', async () => {
    const h = await harness({
      config: { budgetCredits: 1_000, timeoutMs: 400, maxRetries: 1 },
      sim: { processingMs: 400 },
      services: { poll: { firstMs: 5, factor: 1.5, capMs: 20, batchFrom: 4 } },
    });
    // The list will answer too slowly, twice: it fails after about 800 ms.
    h.sim.addFault({ route: 'jobs', kind: 'slow', times: 2, delayMs: 5_000 });
    // Four jobs left to finish in the background (done in 400 ms): polled together through the job list.
    const first = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        h.call('generate_video', { prompt: `batched ${i}`, duration: 4, wait_seconds: 0 }),
      ),
    );
    for (const r of first) expect(r.isError, textOf(r)).toBeFalsy();
    await expect.poll(() => h.sim.hits.get('jobs') ?? 0, { interval: 2 }).toBeGreaterThan(0);
    // Meanwhile a fifth, long job starts, and the first four finish.
    h.sim.processingMs = 60_000;
    const late = structuredOf<VideoOutput>(
      await h.call('generate_video', { prompt: 'started during the list', duration: 4, wait_seconds: 0 }),
    );
    await expect
      .poll(async () => (await h.services.ledger.list({ limit: 10, status: 'COMPLETED' })).records.length, {
        interval: 10,
        timeout: 5_000,
      })
      .toBe(4);
    h.sim.forceJob(late.job_id ?? '', 'COMPLETED');
    const done = structuredOf<VideoOutput>(
      await h.call('get_video', { job_id: late.job_id, wait_seconds: 5 }),
    );
    expect(done.status).toBe('completed');
    expect(h.sim.jobCount).toBe(5);
    figures.logicalCalls += 4;
    await finish(h, true);
  });
});

describe('calls that race or give up', () => {
  it('two identical calls at once, the first answer lost: one job, both answers name it', async () => {
    const { h, args } = await setUp('generate_video');
    h.sim.addFault({ route: 'submit', kind: 'reset_after', times: 1 });
    const [a, b] = await Promise.all([h.call('generate_video', args), h.call('generate_video', args)]);
    const [outA, outB] = [structuredOf<VideoOutput>(a), structuredOf<VideoOutput>(b)];
    expect(outA.job_id).toBe(outB.job_id);
    await expectOneCompletedVideo(h, outA);
    await finish(h, true);
  });

  it('a client that cancels while the submission is unanswered: the job is recorded, finished and found', async () => {
    const { h, args } = await setUp('generate_video');
    h.sim.addFault({ route: 'submit', kind: 'slow', times: 1, delayMs: 150 });
    const controller = new AbortController();
    const pending = h.client.callTool({ name: 'generate_video', arguments: args }, undefined, {
      signal: controller.signal,
    });
    await expect.poll(() => h.sim.jobCount, { interval: 2 }).toBe(1);
    controller.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    const [jobId] = [...h.sim.jobs.keys()];
    // Answered after the client left: recorded, settled and downloaded in the background.
    await expect
      .poll(async () => (await h.services.ledger.findByJobId(String(jobId)))?.downloads.length ?? 0, {
        interval: 5,
        timeout: 5_000,
      })
      .toBe(1);
    const again = structuredOf<VideoOutput>(await h.call('generate_video', args));
    expect(again.job_id).toBe(jobId);
    await expectOneCompletedVideo(h, again);
    await finish(h, true);
  });
});

describe('the canary key', () => {
  it('appears in no result, error or log line of this file', () => {
    figures.leaks += outbox.leaks();
    expect(outbox.leakSamples()).toEqual([]);
    expect(outbox.logLines.length).toBeGreaterThan(0);
  });
});
