import { setMaxListeners } from 'node:events';

/**
 * Lets any number of listeners wait on these signals: every request in flight listens on its
 * signal, and with dozens of small files in flight Node would warn of a "possible memory leak".
 */
export function manyListeners<T extends AbortSignal>(...signals: T[]): T {
  setMaxListeners(0, ...signals);
  return signals[0];
}

/** Aborted when `outer` (if any) or `inner` is: the signal a piece of work and its caller share. */
export function linked(outer: AbortSignal | undefined, inner: AbortSignal): AbortSignal {
  return manyListeners(outer ? AbortSignal.any([outer, inner]) : inner);
}

/** `p`'s value, or the abort's reason as soon as `signal` aborts. */
export function orAbort<T>(p: Promise<T> | undefined, signal: AbortSignal): Promise<T | undefined> {
  if (!p) return Promise.resolve(undefined);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}
