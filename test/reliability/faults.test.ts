/**
 * Upstream faults, injected by the simulator on real HTTP over loopback, on every route a call depends on. For each:
 * what the tool answers, how many upstream jobs exist (never more than one per logical call), what the ledger holds
 * (the job found again by get_video) and what the budget says (a reservation held only while a charge is possible).
 */
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageAsset } from '../../src/package-files.js';
import type { FaultInput, SimulatorRoute } from '../../src/simulator/faults.js';
import type { VideoOutput } from '../../src/tools/shapes.js';
import { structuredOf, textOf } from '../helpers/mcp.js';
import { Outbox } from './canary.js';
import { type ReliableHarness, reliableHarness } from './harness.js';
import { useTally } from './tally.js';

const figures = useTally('faults');
const outbox = new Outbox();
beforeAll(() => outbox.captureLogs());
afterAll(() => outbox.release());

type Fault = Omit<FaultInput, 'route'>;
interface Scenario {
  name: string;
  fault: Fault;
}

/** Each of these lasts less than the retries: the call must succeed as if nothing happened. */
const TRANSIENT: Scenario[] = [
  { name: '429 with Retry-After', fault: { kind: 'rate_limit', times: 1, retryAfterSeconds: 0.05 } },
  { name: '503 burst', fault: { kind: 'unavailable', times: 2 } },
  { name: 'reset before processing', fault: { kind: 'reset_before', times: 1 } },
  { name: 'reset after processing', fault: { kind: 'reset_after', times: 1 } },
  { name: 'answer slower than the timeout', fault: { kind: 'slow', times: 1, delayMs: 30_000 } },
  { name: 'malformed body', fault: { kind: 'malformed', times: 1 } },
  { name: 'truncated body', fault: { kind: 'truncated', times: 1 } },
];

/** These outlast the retries: the call must fail saying what happened and what to do, and a repeat must recover. */
const LASTING: Scenario[] = [
  { name: '500 outlasting the retries', fault: { kind: 'server_error', times: 1_000 } },
  { name: '429 asking for an hour', fault: { kind: 'rate_limit', times: 1_000, retryAfterSeconds: 3_600 } },
];

const PRICE = 8; // 480p x 4 s
const BUDGET = 1_000;

type Driver = 'generate_video' | 'generate_video+local' | 'upload_asset';
const DRIVERS: Record<SimulatorRoute & ('submit' | 'job' | 'upload' | 'asset_create' | 'asset'), Driver[]> = {
  submit: ['generate_video'],
  job: ['generate_video'],
  upload: ['generate_video+local', 'upload_asset'],
  asset_create: ['generate_video+local', 'upload_asset'],
  asset: ['generate_video+local', 'upload_asset'],
};

let serial = 0;

async function setUp(driver: Driver) {
  const h = await reliableHarness(outbox, figures, {
    config: { budgetCredits: BUDGET, timeoutMs: 500, maxRetries: 2 },
  });
  serial += 1;
  const local = join(h.dirs.work, `start-${serial}.png`);
  await copyFile(packageAsset('sample-start.png'), local);
  const args: Record<string, unknown> =
    driver === 'upload_asset'
      ? { source: local }
      : {
          prompt: `fault scenario ${serial}: a lighthouse in fog`,
          duration: 4,
          resolution: '480p',
          wait_seconds: 20,
          ...(driver === 'generate_video+local' ? { start_image: local } : {}),
        };
  return { h, args, tool: driver === 'upload_asset' ? 'upload_asset' : 'generate_video' };
}

async function finish(h: ReliableHarness, asksForVideo: boolean) {
  figures.scenarios += 1;
  figures.faultsInjected += h.faultsInjected();
  figures.jobsCreated += h.sim.jobCount;
  if (asksForVideo) figures.logicalCalls += 1;
  expect(h.contractProblems()).toEqual([]);
  await h.close();
}

/** A completed video: one job upstream, charged once, found again by get_video without a new job. */
async function expectOneCompletedVideo(h: ReliableHarness, out: VideoOutput) {
  expect(out.status).toBe('completed');
  expect(h.sim.jobCount).toBe(1);
  expect(h.sim.credits).toBe(100_000 - PRICE);
  expect(out.budget).toMatchObject({ spent: PRICE, reserved: 0, remaining: BUDGET - PRICE });
  const record = await h.services.ledger.findByJobId(out.job_id ?? '');
  expect(record?.status).toBe('COMPLETED');
  const again = await h.call('get_video', { job_id: out.job_id, wait_seconds: 0 });
  expect(again.isError).toBeFalsy();
  expect(structuredOf<VideoOutput>(again)).toMatchObject({ status: 'completed', job_id: out.job_id });
  expect(h.sim.jobCount).toBe(1);
  // Every POST that may have created this video carried the same idempotency key (a 429 refused one created none).
  const keys = new Set(
    h.sim
      .exchangesFor('submit')
      .filter((e) => e.status !== 429)
      .map((e) => e.idempotencyKey),
  );
  expect(keys.size).toBe(1);
}

describe.each(Object.entries(DRIVERS))('faults on the %s route', (route, drivers) => {
  describe.each(drivers)('through %s', (driver) => {
    it.each(TRANSIENT)('$name: succeeds after retrying', async ({ fault }) => {
      const { h, args, tool } = await setUp(driver);
      h.sim.addFault({ route: route as SimulatorRoute, ...fault });
      const result = await h.call(tool, args);
      expect(result.isError, textOf(result)).toBeFalsy();
      expect(h.faultsInjected()).toBeGreaterThan(0);
      if (tool === 'generate_video') {
        await expectOneCompletedVideo(h, structuredOf<VideoOutput>(result));
      } else {
        expect(structuredOf(result)).toMatchObject({ status: 'Active', reused: false });
        expect(h.sim.jobCount).toBe(0);
      }
      await finish(h, tool === 'generate_video');
    });

    it.each(LASTING)(
      '$name: an isError saying what to do; the same call again recovers',
      async ({ fault }) => {
        const { h, args, tool } = await setUp(driver);
        h.sim.addFault({ route: route as SimulatorRoute, ...fault });
        const failed = await h.call(tool, args);
        const text = textOf(failed);
        expect(failed.isError, text).toBe(true);
        expect(text).toMatch(fault.kind === 'rate_limit' ? /rate_limited.*3600 s/s : /upstream_unavailable/);
        expect(text).toMatch(/What to do: \S/);
        expect(text.length).toBeLessThan(1_500);
        const budget = await h.services.ledger.budget();
        if (route === 'submit') {
          expect(h.sim.jobCount).toBe(0);
          // A 500 may come after the job was created: the reservation stays until the same call resolves it.
          // A 429 is a refusal: nothing can have been charged, so nothing stays reserved.
          expect(budget.reserved).toBe(fault.kind === 'rate_limit' ? 0 : PRICE);
          if (fault.kind !== 'rate_limit') expect(text).toMatch(/same arguments/);
        } else if (route === 'job') {
          // The job exists and is paid for: the answer names it, the ledger has it, the budget holds its price.
          expect(h.sim.jobCount).toBe(1);
          const [jobId] = [...h.sim.jobs.keys()];
          expect(text).toContain(String(jobId));
          expect(text).toMatch(/get_video/);
          expect(await h.services.ledger.findByJobId(String(jobId))).toBeDefined();
          expect(budget.reserved).toBe(PRICE);
        } else {
          expect(h.sim.jobCount).toBe(0);
          expect(budget).toMatchObject({ spent: 0, reserved: 0 });
        }
        h.sim.faults.clear();
        const retried = await h.call(tool, args);
        expect(retried.isError, textOf(retried)).toBeFalsy();
        if (tool === 'generate_video') {
          await expectOneCompletedVideo(h, structuredOf<VideoOutput>(retried));
        } else {
          expect(structuredOf(retried)).toMatchObject({ status: 'Active' });
          expect(h.sim.jobCount).toBe(0);
        }
        await finish(h, tool === 'generate_video');
      },
    );
  });
});

describe('faults on the result download', () => {
  it.each(['reset_after', 'truncated', 'malformed'] as const)(
    '%s: no corrupt file is left, and get_video downloads it again',
    async (kind) => {
      const { h, args } = await setUp('generate_video');
      h.sim.addFault({ route: 'file', kind, times: 1 });
      const first = await h.call('generate_video', args);
      const out = structuredOf<VideoOutput>(first);
      expect(out.status).toBe('completed');
      expect(out.video).toBeNull();
      expect(out.warnings.join(' ')).toMatch(/get_video/);
      expect(await readdir(h.dirs.output).catch(() => [])).toEqual([]);
      const again = structuredOf<VideoOutput>(
        await h.call('get_video', { job_id: out.job_id, wait_seconds: 5 }),
      );
      expect(again.video?.bytes).toBeGreaterThan(1_000);
      expect(h.sim.jobCount).toBe(1);
      await finish(h, true);
    },
  );
});

describe('an idempotency_key that cannot travel in an HTTP header as it is', () => {
  it('still submits once per key (found by the test: a newline left a stuck reservation)', async () => {
    const { h, args } = await setUp('generate_video');
    const keys = [
      'clé-été',
      'line\nbreak',
      'tab\there',
      'nul\u0000byte',
      ' padded ',
      '雪🎬',
      'plain-key_1.2~x',
    ];
    for (const key of keys) {
      // new_job: an identical request in flight would otherwise be attached to, whatever its key.
      const call = { ...args, idempotency_key: key, wait_seconds: 0, new_job: true };
      const first = await h.call('generate_video', call);
      expect(first.isError, textOf(first)).toBeFalsy();
      const again = await h.call('generate_video', call);
      expect(structuredOf<VideoOutput>(again).job_id).toBe(structuredOf<VideoOutput>(first).job_id);
    }
    expect(h.sim.jobCount).toBe(keys.length);
    for (const exchange of h.sim.exchangesFor('submit')) {
      expect(exchange.idempotencyKey).toMatch(/^[\x21-\x7e]+$/);
    }
    expect(h.sim.exchangesFor('submit').at(-1)?.idempotencyKey).toBe('plain-key_1.2~x');
    const budget = await h.services.ledger.budget();
    expect(budget.spent + budget.reserved).toBe(keys.length * PRICE);
    figures.logicalCalls += keys.length - 1;
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
