/**
 * Waits for every promise to settle, then throws the first rejection (or returns the values). Used
 * wherever work runs side by side and nothing may still be running when the caller goes on (a
 * file handle closed, a temp file removed) — unlike Promise.all, which rejects at once.
 */
export async function settleAll<T>(work: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
