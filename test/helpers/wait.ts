import { vi } from 'vitest';

/**
 * The one wait of the tests: resolves with the first truthy value `check` returns, checked every couple of
 * milliseconds; fails the test if none comes within `timeoutMs`. For a state that follows an event the test cannot
 * await directly (a job created upstream, a file saved in the background).
 */
export function waitUntil<T>(check: () => T | Promise<T>, timeoutMs = 10_000) {
  return vi.waitUntil(check, { timeout: timeoutMs, interval: 2 });
}
