import pLimit from 'p-limit';
import type { Location } from '../location.ts';
import type { Store } from '../store/store.ts';
import { settleAll } from '../settle.ts';
import { readRow, type Row, type RowState } from './status.ts';

export interface ReadRowsOptions {
  /** Rows read at once (each reads its manifest, marker and lease side by side). */
  concurrency: number;
  signal?: AbortSignal;
  /** Also the last lines of the uploaded ferry.log of rows that are not complete. */
  logTail?: boolean;
  leaseTtlMs?: number;
  /** Applied to every log line read (secrets this ferry knows never reach a report). */
  mask?: (line: string) => string;
}

/**
 * Reads every row's outcome, `concurrency` rows at a time, in the order given. The first failure
 * (the store unreachable, access denied) stops the rest and is thrown once every read has settled.
 */
export async function readRows(
  storeFor: (loc: Location) => Promise<Store>,
  rows: Row[],
  o: ReadRowsOptions,
): Promise<RowState[]> {
  const limit = pLimit(o.concurrency);
  const inner = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, inner.signal]) : inner.signal;
  const call = { phase: 'download' as const, signal };
  const one = async (row: Row) => {
    const state = await readRow(await storeFor(row.output), row, call, o);
    if (state.logTail && o.mask) state.logTail = state.logTail.map(o.mask);
    if (state.progress && o.mask) state.progress = o.mask(state.progress);
    return state;
  };
  return settleAll(
    rows.map((row) =>
      limit(() => one(row)).catch((err) => {
        inner.abort(err);
        throw err;
      }),
    ),
  ).catch((err) => {
    throw inner.signal.reason ?? err; // the failure that stopped the others, not their AbortErrors
  });
}
