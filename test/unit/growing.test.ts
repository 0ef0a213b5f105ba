import { createHash } from 'node:crypto';
import { appendFileSync, openSync, closeSync, writeSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUri } from '../../agent/location.ts';
import { ByteBudget } from '../../agent/store/budget.ts';
import { GrowingUpload, type PartSink } from '../../agent/store/growing.ts';
import { tempDir } from '../helpers/ferry.ts';

const PART = 64 * 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest();

/** A sink that keeps the parts it was sent (as a store would: the later one under a number counts). */
function recordingSink(fail?: { send?: number }) {
  const parts = new Map<number, Buffer>();
  const log: string[] = [];
  let sends = 0;
  const sink: PartSink = {
    async send(i, buf, m) {
      if (++sends === fail?.send) throw new Error('the store broke off');
      expect(md5(buf).equals(m)).toBe(true);
      parts.set(i, Buffer.from(buf));
      log.push(`send ${i}`);
    },
    async commit(md5s) {
      log.push(`commit ${md5s.length}`);
      for (const k of [...parts.keys()]) if (k >= md5s.length) parts.delete(k);
      const digest = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${md5s.length}`;
      return { digest, etag: digest };
    },
    async abort() {
      log.push('abort');
    },
  };
  const committed = () => Buffer.concat([...parts.keys()].sort((a, b) => a - b).map((i) => parts.get(i)!));
  return { sink, log, parts, committed };
}

function setup(name: string, fail?: { send?: number }) {
  const dir = tempDir(name);
  const file = join(dir, 'post.bin');
  writeFileSync(file, '');
  const rec = recordingSink(fail);
  const budget = new ByteBudget(8 * PART, PART);
  const dest = parseUri('s3://bkt/out/post.bin', 'o');
  const g = new GrowingUpload({ file, dest, partSize: PART, maxParts: 10_000, partsPerFile: 2, budget }, rec.sink);
  return { file, g, ...rec, budget };
}

const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('GrowingUpload: parts go up as the file grows; the close checks them all again', () => {
  it('sends each part once the file holds it whole; the close sends only the rest', async () => {
    const { file, g, log, committed, budget } = setup('growing-append');
    const body = bytes(3 * PART + 100, 1);
    appendFileSync(file, body.subarray(0, PART + 10));
    await g.grow(PART + 10);
    expect(log).toEqual(['send 0']);
    appendFileSync(file, body.subarray(PART + 10, 3 * PART + 5));
    await g.grow(3 * PART + 5);
    expect(log).toEqual(['send 0', 'send 1', 'send 2']);
    appendFileSync(file, body.subarray(3 * PART + 5));
    const up = await g.finish({ size: body.length, sha256: true });
    expect(log).toEqual(['send 0', 'send 1', 'send 2', 'send 3', 'commit 4']);
    expect(committed().equals(body)).toBe(true);
    expect(up?.ahead).toEqual({ parts: 3, of: 4 });
    expect(up?.sha256).toBe(sha(body));
    const md5s = [0, 1, 2, 3].map((i) => md5(body.subarray(i * PART, (i + 1) * PART)));
    expect(up?.digest).toBe(`${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-4`);
    expect(up?.loc).toEqual(parseUri('s3://bkt/out/post.bin', 'o'));
    expect(budget.inUse).toBe(0);
    await g.abort(); // after the commit: nothing to drop
    expect(log.at(-1)).toBe('commit 4');
  });

  it('a part rewritten in place after it was sent goes again at the close', async () => {
    const { file, g, log, committed } = setup('growing-rewrite');
    const body = bytes(3 * PART, 2);
    writeFileSync(file, body);
    await g.grow(body.length);
    expect(log).toEqual(['send 0', 'send 1', 'send 2']);
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from('HEADER'), 0, 6, PART + 7); // a header written at the close, inside part 1
    closeSync(fd);
    body.write('HEADER', PART + 7);
    const up = await g.finish({ size: body.length });
    expect(log.slice(3)).toEqual(['send 1', 'commit 3']);
    expect(committed().equals(body)).toBe(true);
    expect(up?.ahead).toEqual({ parts: 2, of: 3 });
    expect(up?.sha256).toBe(sha(body)); // not the hash of the bytes as they first went up
  });

  it('a file truncated and written again is read again from its start (same bytes: not sent again)', async () => {
    const { file, g, log, committed } = setup('growing-truncate');
    const first = bytes(3 * PART, 3);
    writeFileSync(file, first);
    await g.grow(first.length);
    expect(log).toEqual(['send 0', 'send 1', 'send 2']);
    truncateSync(file, 0);
    const second = Buffer.concat([first.subarray(0, PART), bytes(2 * PART + 9, 4)]);
    writeFileSync(file, second.subarray(0, PART / 2));
    await g.grow(PART / 2);
    writeFileSync(file, second);
    await g.grow(second.length);
    expect(log.slice(3)).toEqual(['send 1', 'send 2']); // part 0 came back with the same bytes
    const up = await g.finish({ size: second.length });
    expect(log.slice(5)).toEqual(['send 3', 'commit 4']);
    expect(committed().equals(second)).toBe(true);
    expect(up?.ahead).toEqual({ parts: 3, of: 4 });
    expect(up?.sha256).toBe(sha(second));
    const none = setup('growing-no-sha');
    writeFileSync(none.file, second);
    await none.g.grow(second.length);
    expect((await none.g.finish({ size: second.length, sha256: false }))?.sha256).toBeUndefined();
  });

  it('a file of one part at its close is dropped: the caller sends it whole', async () => {
    const { file, g, log } = setup('growing-shrunk');
    writeFileSync(file, bytes(2 * PART + 1, 5));
    await g.grow(2 * PART + 1);
    truncateSync(file, 100);
    expect(await g.finish({ size: 100 })).toBeUndefined();
    expect(log).toEqual(['send 0', 'send 1', 'abort']);
  });

  it('a file that shrank below the parts already sent goes up whole (a server may refuse to skip them)', async () => {
    const { file, g, log } = setup('growing-shrank');
    writeFileSync(file, bytes(4 * PART, 10));
    await g.grow(4 * PART);
    truncateSync(file, 2 * PART + 7); // 3 parts now, 4 sent
    expect(await g.finish({ size: 2 * PART + 7 })).toBeUndefined();
    expect(log).toEqual(['send 0', 'send 1', 'send 2', 'send 3', 'abort']);
  });

  it('a failure at the close aborts what was sent and rethrows; the pool gets every buffer back', async () => {
    const { file, g, log, budget } = setup('growing-fail', { send: 3 });
    writeFileSync(file, bytes(2 * PART, 6));
    await g.grow(2 * PART);
    appendFileSync(file, bytes(PART, 7));
    await expect(g.finish({ size: 3 * PART })).rejects.toThrow('the store broke off');
    expect(log.at(-1)).toBe('abort');
    expect(log).not.toContain('commit 3');
    expect(budget.inUse).toBe(0);
  });

  it('a file that shrinks during the close fails it (73), never commits a short object', async () => {
    const { file, g, log } = setup('growing-short');
    writeFileSync(file, bytes(3 * PART, 8));
    await g.grow(3 * PART);
    truncateSync(file, 2 * PART + 5);
    await expect(g.finish({ size: 3 * PART })).rejects.toMatchObject({ exitCode: 73 });
    expect(log).not.toContain('commit 3');
    expect(log.at(-1)).toBe('abort');
  });

  it('one grow at a time: a grow while one runs returns at once; abort waits for it', async () => {
    const { file, g, log } = setup('growing-overlap');
    writeFileSync(file, bytes(4 * PART, 9));
    const a = g.grow(4 * PART);
    await g.grow(4 * PART); // returns at once
    const stopped = g.abort();
    await a;
    await stopped;
    expect(log.at(-1)).toBe('abort');
    expect(await g.finish({ size: 4 * PART })).toBeUndefined();
  });
});
