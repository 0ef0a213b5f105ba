// ferry's own retry back-off (the SDKs' request retries keep their own): exponential from `firstMs`,
// at most `maxMs`, each wait jittered to 0.5–1.5× so that retries of parts in flight do not line up.

export interface Backoff {
  firstMs: number;
  maxMs: number;
}

/** Body re-reads (agent/store/resume.ts) and abort confirmations (agent/s3/multipart.ts). */
export const BACKOFF: Backoff = { firstMs: 100, maxMs: 5000 };

/** The wait before retry number `attempt` (1 = the first retry). */
export function backoffMs(attempt: number, b: Backoff = BACKOFF): number {
  return Math.min(b.maxMs, b.firstMs * 2 ** attempt * (0.5 + Math.random()));
}

/** Waits `backoffMs(attempt)`; an aborted signal ends the wait at once (with its reason). */
export function backOff(attempt: number, signal?: AbortSignal, b: Backoff = BACKOFF): Promise<void> {
  signal?.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    const t = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      backoffMs(attempt, b),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
