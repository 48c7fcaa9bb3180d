/**
 * The typed errors, one file per family in core/errors/ (base.ts holds SeedanceError, the codes and the advice
 * written once); importers take them from here.
 */
export * from './errors/arguments.js';
export * from './errors/assets.js';
export * from './errors/base.js';
export * from './errors/calls.js';
export * from './errors/files.js';
export * from './errors/jobs.js';
export * from './errors/ledger.js';
export * from './errors/setup.js';
export * from './errors/spending.js';
export * from './errors/upstream.js';

import { CancelledError } from './errors/calls.js';

/** Waits `ms`, or throws CancelledError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, what = 'waiting'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError(what));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError(what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
