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
