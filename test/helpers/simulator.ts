import { afterEach } from 'vitest';
import { ApiframeClient } from '../../src/apiframe/client.js';
import type { HttpOptions } from '../../src/apiframe/http.js';
import { type Simulator, type SimulatorOptions, startSimulator } from '../../src/simulator/server.js';
import { allContractProblems } from './contract.js';

export const TEST_KEY = 'afk_test_0123456789abcdef';

/** Fast timing: jobs complete in a few tens of milliseconds unless a test says otherwise. */
export const FAST: SimulatorOptions = { queuedMs: 5, processingMs: 30, assetProcessingMs: 5 };

export interface Sleeps {
  waits: number[];
}

/**
 * The real client against a real simulator on loopback. Backoff waits are recorded and shortened, so a test can
 * assert on the wait a Retry-After asked for without spending it.
 */
export function clientFor(
  sim: Simulator,
  options: Partial<HttpOptions> = {},
  sleeps: Sleeps = { waits: [] },
) {
  return new ApiframeClient({
    baseUrl: sim.url,
    apiKey: TEST_KEY,
    timeoutMs: 5_000,
    maxRetries: 3,
    retryBaseMs: 1,
    retryCapMs: 4,
    maxRetryAfterMs: 30_000,
    userAgent: 'seedance-mcp-test',
    sleep: async (ms) => {
      sleeps.waits.push(ms);
    },
    ...options,
  });
}

/**
 * Starts a simulator per test, closes it afterwards, and fails the test if any exchange broke Apiframe's contract.
 */
export function useSimulator(options: SimulatorOptions = FAST) {
  const started: Simulator[] = [];
  const allowed: RegExp[] = [];
  const holder = {
    /** A test that sends a deliberately invalid request says which violation it expects. */
    allowViolation(pattern: RegExp) {
      allowed.push(pattern);
    },
    get sim(): Simulator {
      const sim = started.at(-1);
      if (sim === undefined) throw new Error('call start() first');
      return sim;
    },
    async start(o: SimulatorOptions = {}) {
      const sim = await startSimulator({ ...options, ...o });
      started.push(sim);
      return sim;
    },
  };
  afterEach(async () => {
    const problems = started
      .flatMap((s) => allContractProblems(s.exchanges))
      .filter((p) => !allowed.some((a) => a.test(p)));
    allowed.length = 0;
    await Promise.all(started.splice(0).map((s) => s.close()));
    if (problems.length > 0) throw new Error(`contract violations:\n${problems.join('\n')}`);
  });
  return holder;
}
