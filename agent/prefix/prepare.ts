import { formatUri, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { isOwnObject, SUCCESS } from '../names.ts';
import type { ObjectInfo, Store } from '../store/store.ts';
import { withdrawSuccess } from './manifest.ts';

/**
 * Before anything is uploaded: learn what a previous attempt left under the output prefix (so
 * unchanged files are not sent again), withdraw its `_SUCCESS` (the prefix must not claim to be
 * complete while it changes), and abort unfinished uploads it left. Returns the objects by key.
 */
export async function prepareOutput(
  store: Store,
  prefix: Location,
  log: Log,
  signal?: AbortSignal,
): Promise<Map<string, ObjectInfo>> {
  const call = { phase: 'upload' as const, signal };
  const objects = await store.list(prefix, call);
  const existing = new Map(objects.filter((o) => !isOwnObject(o.key.slice(prefix.key.length))).map((o) => [o.key, o]));
  if (existing.size > 0)
    log.info(
      `output prefix already holds ${existing.size} object(s) from an earlier attempt: ` +
        'unchanged files will not be sent again',
    );
  if (objects.some((o) => o.key === `${prefix.key}${SUCCESS}`)) {
    await withdrawSuccess(store, prefix, signal);
    log.info(`withdrew ${formatUri(prefix)}${SUCCESS} until this run completes`);
  }
  const aborted = await store.abortUnfinished(prefix, call);
  if (aborted > 0) log.info(`aborted ${aborted} unfinished multipart upload(s) left under ${formatUri(prefix)}`);
  return existing;
}
