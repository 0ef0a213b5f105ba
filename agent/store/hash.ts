import { createHash } from 'node:crypto';
import type { Location } from '../location.ts';
import type { Call, ObjectInfo, Store } from './store.ts';

/**
 * SHA-256 of a stored object, read as one ranged stream and hashed chunk by chunk as it arrives:
 * memory stays at a few socket buffers whatever the object's size. The read names the object's
 * ETag, so an object replaced while it is read fails instead of hashing a mix of two versions.
 */
export async function sha256OfObject(store: Store, loc: Location, info: ObjectInfo, call: Call): Promise<string> {
  const hash = createHash('sha256');
  if (info.size > 0) {
    let next = 0;
    await store.read(loc, info.etag, [0, info.size], call, (chunk, pos) => {
      // A resumed read starts again from the first byte not received: chunks arrive in order.
      if (pos !== next) throw new Error(`internal: chunk at ${pos}, expected ${next}`);
      hash.update(chunk);
      next = pos + chunk.length;
    });
  }
  return hash.digest('hex');
}
