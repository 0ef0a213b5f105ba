import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import { TransferError } from '../../agent/net/failures.ts';
import { readResuming, type Body } from '../../agent/store/resume.ts';

const u = parseUri('s3://bucket/in/case.zip', '--input');

/** A body of `chunks` (from the position asked for), broken off after `breakAfter` of them when set. */
function bodyFrom(data: Buffer, pos: number, size: number, breakAfter?: number): Body {
  return {
    async *[Symbol.asyncIterator]() {
      let n = 0;
      for (let p = pos; p < data.length; p += size) {
        if (breakAfter !== undefined && n++ >= breakAfter)
          throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
        yield data.subarray(p, Math.min(data.length, p + size));
      }
    },
    destroy() {},
  };
}

describe('readResuming', () => {
  const data = Buffer.from('0123456789abcdefghij');

  it('a body that breaks off is asked for again from the first byte not received', async () => {
    const opened: number[] = [];
    const got: Buffer[] = [];
    await readResuming(
      u,
      [0, data.length],
      { attempts: 3 },
      async (pos) => (opened.push(pos), bodyFrom(data, pos, 4, opened.length === 1 ? 2 : undefined)),
      (chunk) => void got.push(Buffer.from(chunk)),
    );
    expect(opened).toEqual([0, 8]);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it("the chunk handler's failure (a refused entry, a full disk) is rethrown at once, not resumed", async () => {
    const opened: number[] = [];
    const refused = new Error('refusing archive: entry has no local header');
    const read = readResuming(
      u,
      [0, data.length],
      { attempts: 5 },
      async (pos) => (opened.push(pos), bodyFrom(data, pos, 4)),
      (_chunk, pos) => {
        if (pos === 8) throw refused;
      },
    );
    await expect(read).rejects.toBe(refused);
    expect(opened).toEqual([0]);
  });

  it('a body that keeps breaking off ends as a broken transfer after the attempts', async () => {
    const read = readResuming(
      u,
      [0, data.length],
      { attempts: 2 },
      async (pos) => bodyFrom(data, pos, 4, 1),
      () => {},
    );
    await expect(read).rejects.toBeInstanceOf(TransferError);
  });
});
