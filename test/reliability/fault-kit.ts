/**
 * What the fault files share: the faults (transient and lasting), the routes and the calls that drive them, and
 * the checks every scenario ends with. Two files, so that the two workers share the waiting for timeouts.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { packageAsset } from '../../src/core/package-files.js';
import type { VideoOutput } from '../../src/mcp/tools/shapes.js';
import type { FaultInput, SimulatorRoute } from '../../src/simulator/faults.js';
import { type HarnessOptions, structuredOf } from '../helpers/mcp.js';
import { Outbox } from './canary.js';
import { type ReliableHarness, reliableHarness } from './harness.js';
import { useTally } from './tally.js';

export type Fault = Omit<FaultInput, 'route'>;
export interface Scenario {
  name: string;
  fault: Fault;
}

/** Each of these lasts less than the retries: the call must succeed as if nothing happened. */
export const TRANSIENT: Scenario[] = [
  { name: '429 with Retry-After', fault: { kind: 'rate_limit', times: 1, retryAfterSeconds: 0.05 } },
  { name: '503 burst', fault: { kind: 'unavailable', times: 2 } },
  { name: 'reset before processing', fault: { kind: 'reset_before', times: 1 } },
  { name: 'reset after processing', fault: { kind: 'reset_after', times: 1 } },
  { name: 'answer slower than the timeout', fault: { kind: 'slow', times: 1, delayMs: 30_000 } },
  { name: 'malformed body', fault: { kind: 'malformed', times: 1 } },
  { name: 'truncated body', fault: { kind: 'truncated', times: 1 } },
];

/** These outlast the retries: the call must fail saying what happened and what to do, and a repeat must recover. */
export const LASTING: (Scenario & { code: RegExp })[] = [
  {
    name: '500 outlasting the retries',
    fault: { kind: 'server_error', times: 1_000 },
    code: /upstream_unavailable/,
  },
  {
    name: '429 asking for an hour',
    fault: { kind: 'rate_limit', times: 1_000, retryAfterSeconds: 3_600 },
    code: /rate_limited.*3600 s/s,
  },
  {
    name: 'reset after processing, every time',
    fault: { kind: 'reset_after', times: 1_000 },
    code: /network/,
  },
  {
    name: 'slower than the timeout, every time',
    fault: { kind: 'slow', times: 1_000, delayMs: 30_000 },
    code: /upstream_timeout/,
  },
  { name: 'malformed, every time', fault: { kind: 'malformed', times: 1_000 }, code: /upstream_protocol/ },
];

/** Faults that strike after the request was processed: a submission behind one of them created its job. */
export const AFTER_WORK = new Set(['reset_after', 'slow', 'malformed', 'truncated']);

export const PRICE = 8; // 480p x 4 s
export const BUDGET = 1_000;

export type Driver = 'generate_video' | 'generate_video+local' | 'upload_asset';
export const DRIVERS: Record<
  SimulatorRoute & ('submit' | 'job' | 'upload' | 'asset_create' | 'asset'),
  Driver[]
> = {
  submit: ['generate_video'],
  job: ['generate_video'],
  upload: ['generate_video+local', 'upload_asset'],
  asset_create: ['generate_video+local', 'upload_asset'],
  asset: ['generate_video+local', 'upload_asset'],
};

/** The tally, the outbox and the scenario steps of one fault file. */
export function faultKit(name: string) {
  const figures = useTally(name);
  const outbox = new Outbox();
  beforeAll(() => outbox.captureLogs());
  afterAll(() => outbox.release());
  /** Harnesses of the running test: one whose test failed before finish() is closed (and its folder deleted) here. */
  const open = new Set<ReliableHarness>();
  afterEach(async () => {
    await Promise.all([...open].map((h) => h.close()));
    open.clear();
  });

  /** A harness closed by finish(), or after its test if the test failed first. */
  async function harness(options: HarnessOptions = {}): Promise<ReliableHarness> {
    const h = await reliableHarness(outbox, figures, options);
    open.add(h);
    return h;
  }

  let serial = 0;

  async function setUp(driver: Driver, timeoutMs = 500) {
    const h = await harness({
      config: { budgetCredits: BUDGET, timeoutMs, maxRetries: 2 },
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
    open.delete(h);
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

  return { figures, outbox, harness, setUp, finish, expectOneCompletedVideo };
}
