// ferry's own small objects under an output prefix (the manifest, the lease), read whole.
import { EXIT, FerryError } from '../errors.ts';
import type { Location } from '../location.ts';
import type { Call, Fetched, Store } from '../store/store.ts';

/**
 * One of ferry's objects under the prefix, read whole, or undefined when there is none. Under a bucket
 * policy that grants s3:ListBucket only for the prefix (as `ferry policy` writes it), S3 answers 403,
 * not 404, for a key that is not there (no s3:prefix to match in a GetObject): then a listing of that
 * one key, which such a policy allows, tells a missing object from a forbidden one.
 */
export async function readOwn(store: Store, loc: Location, call: Call): Promise<Fetched | undefined> {
  try {
    return await store.fetch(loc, call);
  } catch (err) {
    if (!(err instanceof FerryError) || err.exitCode !== EXIT.noPerm) throw err;
    const listed = await store.list(loc, call).catch(() => undefined);
    if (listed === undefined || listed.some((o) => o.key === loc.key)) throw err;
    return undefined;
  }
}
