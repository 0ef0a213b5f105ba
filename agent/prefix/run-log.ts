import { stat } from 'node:fs/promises';
import { describeError } from '../errors.ts';
import { formatUri, under, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { RUN_LOG, RUN_LOG_OBJECT } from '../names.ts';
import type { Store } from '../store/store.ts';
import { LeaseLost } from './lease.ts';
import { verified } from './manifest.ts';

const PUT = { sha256: false, contentType: 'text/plain; charset=utf-8' } as const;

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
  const up = await store.putFile(file, size, under(prefix, RUN_LOG_OBJECT), { ...call, ...PUT });
  await verified(store, up, call);
  return size;
}

export interface RunLogCopyOptions {
  store: Store;
  prefix: Location;
  file: string;
  log: Log;
  /** Before each upload: throws LeaseLost when this run may not write to the prefix any more. */
  fence: () => Promise<void>;
  signal?: AbortSignal;
}

/**
 * The run log as it is so far, uploaded now and then while the run goes on (so `doe status` can show
 * a running row's progress): one PUT of the log so far, only when it grew since the last one, through
 * the lease's fence (a run that lost its lease writes nothing more). Best effort: a failure is said
 * once (until an upload works again) and the run goes on. The claim's upload at the end replaces it:
 * `update` must not be under way then.
 */
export class RunLogCopy {
  private sentSize = 0;
  private failing = false;
  private fenced = false;

  constructor(private readonly o: RunLogCopyOptions) {}

  /** Uploads the log if it changed; true when it did. */
  async update(): Promise<boolean> {
    const { o } = this;
    if (this.fenced || o.signal?.aborted) return false;
    try {
      const { size } = await stat(o.file);
      if (size === this.sentSize) return false;
      await o.fence();
      const call = { phase: 'upload' as const, signal: o.signal, what: 'uploading the run log so far' };
      await o.store.putFile(o.file, size, under(o.prefix, RUN_LOG_OBJECT), { ...call, ...PUT });
      this.sentSize = size;
      this.failing = false;
      return true;
    } catch (err) {
      if (err instanceof LeaseLost)
        this.fenced = true; // said by the lease
      else if (!this.failing && !o.signal?.aborted) {
        this.failing = true;
        const dest = formatUri(under(o.prefix, RUN_LOG_OBJECT));
        o.log.warn(`could not upload ${RUN_LOG} so far to ${dest}: ${describeError(err)}; tried again later`);
      }
      return false;
    }
  }
}
