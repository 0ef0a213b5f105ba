import { describe, expect, it } from 'vitest';
import { EXIT, FerryError } from '../../agent/errors.ts';
import { parseUri, type Location } from '../../agent/location.ts';
import { readOwn } from '../../agent/prefix/read-own.ts';
import type { Call } from '../../agent/store/store.ts';
import { MemoryStore } from '../helpers/memory-store.ts';

const call: Call = { phase: 'upload' };
const loc = parseUri('s3://bkt/out/row/_manifest.json', 'test');
const denied = () => new FerryError('access denied (AccessDenied)', { phase: 'upload', exitCode: EXIT.noPerm });

/** S3 under a policy that grants s3:ListBucket only with an s3:prefix: GetObject of a missing key is 403. */
class PolicyStore extends MemoryStore {
  listable = true;
  override async fetch(l: Location, c: Call) {
    if (!this.objects.has(l.key)) throw denied();
    return super.fetch(l, c);
  }
  override async list(l: Location, c: Call) {
    if (!this.listable) throw denied();
    return super.list(l, c);
  }
}

describe("readOwn: one of ferry's objects, or undefined when there is none", () => {
  it('a 403 for a key that a listing shows is not there: none (a policy that lists only the prefix)', async () => {
    const s = new PolicyStore();
    s.put('out/row/_manifest.json.bak', 'a key that starts alike is not it');
    expect(await readOwn(s, loc, call)).toBeUndefined();
    expect(s.calls).toEqual(['list out/row/_manifest.json']);
  });
  it('an object that is there but may not be read, or a 403 that no listing can explain: the error', async () => {
    const s = new PolicyStore();
    s.put('out/row/_manifest.json', '{}');
    s.fetch = async () => {
      throw denied();
    };
    await expect(readOwn(s, loc, call)).rejects.toThrow('access denied');
    const t = new PolicyStore();
    t.listable = false;
    await expect(readOwn(t, loc, call)).rejects.toThrow('access denied');
  });
  it('any other failure is not asked about', async () => {
    const s = new MemoryStore();
    s.fetch = async () => {
      throw new FerryError('endpoint unreachable', { phase: 'upload', exitCode: EXIT.unavailable });
    };
    await expect(readOwn(s, loc, call)).rejects.toThrow('unreachable');
    expect(s.calls).toEqual([]);
  });
});
