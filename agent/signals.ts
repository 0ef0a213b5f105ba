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

/**
 * Waits that end with the signal's reason as soon as it aborts: one listener for all of them (an
 * EventTarget walks its listeners on every add, so one each made 40,000 waits quadratic).
 */
export class AbortGate {
  private readonly waiting = new Set<(reason: unknown) => void>();

  constructor(readonly signal: AbortSignal) {
    signal.addEventListener('abort', () => {
      for (const stop of this.waiting) stop(signal.reason);
      this.waiting.clear();
    });
  }

  /** `p`'s value, or the abort's reason once the signal aborts (at once when it has). */
  wait<T>(p: Promise<T> | undefined): Promise<T | undefined> {
    if (!p) return Promise.resolve(undefined);
    if (this.signal.aborted) return Promise.reject(this.signal.reason as Error);
    return new Promise<T>((resolve, reject) => {
      this.waiting.add(reject);
      p.then(resolve, reject).finally(() => this.waiting.delete(reject));
    });
  }
}
