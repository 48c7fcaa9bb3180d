/**
 * Upstream faults, injected by the simulator on real HTTP over loopback, on every route a call depends on: those that
 * last less than the retries (the call must succeed as if nothing happened), faults on the download, and idempotency
 * keys that cannot go in a header. For each: what the tool answers, how many upstream jobs exist (never more than one
 * per logical call), what the ledger holds (the job found again by get_video) and what the budget says. The faults
 * that outlast the retries are in faults-lasting.test.ts, the edge cases in faults-edges.test.ts.
 */
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { VideoOutput } from '../../src/mcp/tools/shapes.js';
import type { SimulatorRoute } from '../../src/simulator/faults.js';
import { structuredOf, textOf } from '../helpers/mcp.js';
import { DRIVERS, faultKit, PRICE, TRANSIENT } from './fault-kit.js';

const { figures, outbox, setUp, finish, expectOneCompletedVideo } = faultKit('faults');

describe.each(Object.entries(DRIVERS))('faults on the %s route', (route, drivers) => {
  describe.each(drivers)('through %s', (driver) => {
    it.each(TRANSIENT)('$name: succeeds after retrying', async ({ fault }) => {
      const { h, args, tool } = await setUp(driver, fault.kind === 'slow' ? 300 : undefined);
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
