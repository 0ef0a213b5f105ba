// The prefix covers every attempt: what the final manifest lists is every object under the output
// prefix except ferry's own — this attempt's uploads, what earlier attempts of the row left (known from
// their journal, sha256 and all), and anything else found there (read once to hash it) — so that
// `ferry verify` and the manifest always agree about every object.
import { formatUri, withKey, type Location } from '../location.ts';
import type { Log } from '../log.ts';
import { isOwnObject } from '../names.ts';
import { sha256OfObject } from '../store/hash.ts';
import type { ObjectInfo, Store } from '../store/store.ts';
import { eachIndex } from '../workers.ts';
import { FOUND, type JournalView } from './journal.ts';
import type { Manifest } from './manifest.ts';

export type Listed = Manifest['outputs'][number];

/** Someone's upload of a path as this attempt knows it (its own, verified). */
export interface Known {
  size: number;
  etag: string;
  sha256: string;
}

export interface AdoptOptions {
  /** This attempt's verified uploads, by relative path. */
  mine: Map<string, Known>;
  journal: JournalView;
  row: string;
  attempt: string;
  log: Log;
  signal?: AbortSignal;
}

/** The journal's entry for an object, if it is of this row and still the same version. */
function journaled(view: JournalView, row: string, rel: string, info: ObjectInfo) {
  const e = view.entries.get(rel);
  if (!e || e.etag !== info.etag || e.size !== info.size) return undefined;
  const of = view.attempts.find((a) => a.attempt === e.attempt);
  return of?.row === row ? e : undefined;
}

/** Every object under `prefix` but ferry's own, as the manifest lists it, in path order. */
export async function everyOutput(store: Store, prefix: Location, o: AdoptOptions): Promise<Listed[]> {
  const call = { phase: 'upload' as const, signal: o.signal };
  const objects = (await store.list(prefix, call)).filter((x) => !isOwnObject(x.key.slice(prefix.key.length)));
  const out: Listed[] = [];
  const foreign: Array<{ rel: string; info: ObjectInfo }> = [];
  for (const info of objects) {
    const rel = info.key.slice(prefix.key.length);
    const mine = o.mine.get(rel);
    const earlier = journaled(o.journal, o.row, rel, info);
    if (mine && mine.etag === info.etag)
      out.push({ path: rel, size: info.size, sha256: mine.sha256, etag: info.etag, attempt: o.attempt });
    else if (earlier)
      out.push({ path: rel, size: info.size, sha256: earlier.sha256, etag: info.etag, attempt: earlier.attempt });
    else foreign.push({ rel, info });
  }
  if (foreign.length > 0) {
    const few = foreign
      .slice(0, 3)
      .map((f) => formatUri(withKey(prefix, f.info.key)))
      .join(', ');
    o.log.warn(
      `${foreign.length} object(s) under the output prefix were not written by an attempt of this row that ` +
        `ferry knows of (${few}${foreign.length > 3 ? ', …' : ''}): listed in the manifest as found there ` +
        '(read once for their sha256), so that the manifest covers every object',
    );
    await eachIndex(
      foreign.length,
      4,
      async (i, signal) => {
        const { rel, info } = foreign[i];
        const sha256 = await sha256OfObject(store, withKey(prefix, info.key), info, { ...call, signal });
        out.push({ path: rel, size: info.size, sha256, etag: info.etag, attempt: FOUND });
      },
      { signal: o.signal, stopOnError: true },
    );
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
