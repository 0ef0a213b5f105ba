import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** S3 quotes ETags; ferry's stores hand them out bare. */
export const bareEtag = (etag: string | undefined) => (etag ?? '').replace(/"/g, '');

/**
 * The ETag S3 reports for this file when uploaded the way ferry uploads it (one PutObject up to
 * `partSize`, else parts of `partSize`), and its SHA-256, in one read. Used to recognise an
 * object a previous attempt already uploaded.
 */
export async function localEtag(
  file: string,
  size: number,
  partSize: number,
  signal?: AbortSignal,
): Promise<{ etag: string; sha256: string }> {
  const sha = createHash('sha256');
  const whole = createHash('md5');
  const partMd5s: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
    sha.update(chunk);
    if (size <= partSize) {
      whole.update(chunk);
      continue;
    }
    let off = 0;
    while (off < chunk.length) {
      const take = Math.min(partSize - inPart, chunk.length - off);
      part.update(chunk.subarray(off, off + take));
      inPart += take;
      off += take;
      if (inPart === partSize) {
        partMd5s.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (size <= partSize) return { etag: whole.digest('hex'), sha256: sha.digest('hex') };
  if (inPart > 0) partMd5s.push(part.digest());
  return {
    etag: `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`,
    sha256: sha.digest('hex'),
  };
}
