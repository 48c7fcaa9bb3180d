import { CancelledError } from './errors.js';

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
