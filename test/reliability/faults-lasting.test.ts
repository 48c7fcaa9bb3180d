/**
 * Upstream faults that outlast the retries, on every route a call depends on: the call fails with an isError that
 * says what happened and what to do; the ledger and the budget hold what may have been charged, and nothing else;
 * the same call again recovers, and never pays twice.
 */
import { describe, expect, it } from 'vitest';
import type { VideoOutput } from '../../src/mcp/tools/shapes.js';
import type { SimulatorRoute } from '../../src/simulator/faults.js';
import { structuredOf, textOf } from '../helpers/mcp.js';
import { AFTER_WORK, DRIVERS, faultKit, LASTING, PRICE } from './fault-kit.js';

const { figures, outbox, setUp, finish, expectOneCompletedVideo } = faultKit('faults-lasting');

describe.each(Object.entries(DRIVERS))('faults on the %s route', (route, drivers) => {
  describe.each(drivers)('through %s', (driver) => {
    it.each(LASTING)(
      '$name: an isError saying what to do; the same call again recovers',
      async ({ fault, code }) => {
        // A timeout that lasts costs three timeouts: a shorter one keeps the suite fast.
        const { h, args, tool } = await setUp(driver, fault.kind === 'slow' ? 300 : undefined);
        h.sim.addFault({ route: route as SimulatorRoute, ...fault });
        const failed = await h.call(tool, args);
        const text = textOf(failed);
        expect(failed.isError, text).toBe(true);
        expect(text).toMatch(code);
        expect(text).toMatch(/What to do: \S/);
        expect(text.length).toBeLessThan(1_500);
        const budget = await h.services.ledger.budget();
        if (route === 'submit') {
          // The job exists when the fault struck after the work; the repeat below must find it, not pay again.
          expect(h.sim.jobCount).toBe(AFTER_WORK.has(fault.kind) ? 1 : 0);
          // Any answer but a refusal may come after the job was created: the reservation stays until the same call
          // resolves it. A 429 is a refusal: nothing can have been charged, so nothing stays reserved.
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

describe('the canary key', () => {
  it('appears in no result, error or log line of this file', () => {
    figures.leaks += outbox.leaks();
    expect(outbox.leakSamples()).toEqual([]);
    expect(outbox.logLines.length).toBeGreaterThan(0);
  });
});
