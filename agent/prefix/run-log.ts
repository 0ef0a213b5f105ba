import { stat } from 'node:fs/promises';
import { under, type Location } from '../location.ts';
import { RUN_LOG_OBJECT } from '../names.ts';
import type { Store } from '../store/store.ts';
import { verified } from './manifest.ts';

/**
 * Uploads the run log (`ferry.log`, already masked by the Log) to `<prefix>_ferry.log` and verifies
 * it. The log only grows (appended to), so its first `size` bytes, taken now, are a consistent copy
 * even while lines are still added. Returns the bytes uploaded.
 */
export async function uploadRunLog(
  store: Store,
  prefix: Location,
  file: string,
  signal?: AbortSignal,
): Promise<number> {
  const call = { phase: 'upload' as const, signal, what: 'uploading the run log' };
  const { size } = await stat(file);
  const up = await store.putFile(file, size, under(prefix, RUN_LOG_OBJECT), {
    ...call,
    sha256: false,
    contentType: 'text/plain; charset=utf-8',
  });
  await verified(store, up, call);
  return size;
}
