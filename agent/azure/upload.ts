import { createHash, randomBytes, type Hash } from 'node:crypto';
import type { BlockBlobClient } from '@azure/storage-blob';
import { EXIT, FerryError } from '../errors.ts';
import type { Location } from '../location.ts';
import type { ByteBudget } from '../store/budget.ts';
import { openForUpload, sendParts, withWholeFile, type OpenFile } from '../store/parts.ts';
import type { Meter, Uploaded } from '../store/store.ts';

export interface BlobUploadOptions {
  /** Files up to this size go in one Put Blob; larger ones as blocks of this size (grown by the store). */
  partSize: number;
  /** Blocks of one file in flight; each holds one pool buffer. */
  partsPerFile: number;
  budget: ByteBudget;
  signal?: AbortSignal;
  /** Where the bytes sent are counted (the store kit counts them). */
  meter?: Meter;
  /** Also hash the whole file with SHA-256 (for a manifest). */
  sha256?: boolean;
  contentType?: string;
}

/** Azure's limits: blocks per blob, bytes per block. */
export const MAX_BLOCKS = 50_000;
export const MAX_BLOCK = 4000 * 1024 * 1024;

export const bare = (etag: string | undefined) => (etag ?? '').replace(/"/g, '');

/**
 * Block IDs: base64 of `<attempt nonce>-<index>`, all of one length (Azure refuses a blob whose block
 * IDs differ in length: 400 InvalidBlobOrBlock, measured on Azurite). The nonce keeps an attempt's
 * blocks apart from the uncommitted blocks of an earlier one, which expire on their own.
 */
const blockId = (nonce: string, i: number) => Buffer.from(`${nonce}-${String(i).padStart(6, '0')}`).toString('base64');

/** Refuses a file Azure cannot take as one blob (50,000 blocks of 4000 MiB: 73, it stays listed as not uploaded). */
function tooBig(file: string, size: number, partSize: number): FerryError | undefined {
  if (partSize <= MAX_BLOCK) return undefined;
  return new FerryError(`${size} bytes is more than Azure stores in one block blob (50,000 blocks of 4000 MiB)`, {
    phase: 'upload',
    target: file,
    exitCode: EXIT.cantCreate,
    hint: 'split the file, or keep it out of the outputs',
  });
}

/** A file of at most one block: one Put Blob from a pool buffer, whose Content-MD5 Azure checks. */
function putWhole(blob: BlockBlobClient, fh: OpenFile, file: string, size: number, o: BlobUploadOptions) {
  return withWholeFile({ fh, file, size, budget: o.budget, signal: o.signal, meter: o.meter }, async (buf, md5) => {
    const sha = o.sha256 === false ? undefined : createHash('sha256').update(buf).digest('hex');
    const r = await blob.upload(buf, size, {
      abortSignal: o.signal,
      blobHTTPHeaders: { blobContentMD5: md5, blobContentType: o.contentType },
    });
    return { digest: md5.toString('hex'), etag: bare(r.etag), sha256: sha };
  });
}

/**
 * A block blob in blocks, by the one part pump of every store (agent/store/parts.ts): each block
 * staged with its Content-MD5 (Azure refuses a corrupted block), the blocks in file order through the
 * whole-file MD5 (and SHA-256), which the commit sets as the blob's Content-MD5: what a listing later
 * shows, and what verification compares. On failure the pump stops and awaits every worker; the staged
 * blocks are left uncommitted (Azure has no abort: they expire, after 7 days on Azure).
 */
async function putBlocks(blob: BlockBlobClient, fh: OpenFile, file: string, size: number, o: BlobUploadOptions) {
  const nonce = randomBytes(4).toString('hex');
  const whole = createHash('md5');
  const sha: Hash | undefined = o.sha256 === false ? undefined : createHash('sha256');
  const onOrdered = (b: Buffer) => {
    whole.update(b);
    sha?.update(b);
  };
  const { partSize, partsPerFile, budget, meter } = o;
  const parts = { fh, file, size, partSize, partsPerFile, budget, onOrdered, meter };
  const count = await sendParts({ ...parts, signal: o.signal }, async (i, buf, md5, signal) => {
    await blob.stageBlock(blockId(nonce, i), buf, buf.length, { abortSignal: signal, transactionalContentMD5: md5 });
  });
  const md5 = whole.digest();
  const ids = Array.from({ length: count }, (_, i) => blockId(nonce, i));
  const r = await blob.commitBlockList(ids, {
    abortSignal: o.signal,
    blobHTTPHeaders: { blobContentMD5: md5, blobContentType: o.contentType },
  });
  return { digest: md5.toString('hex'), etag: bare(r.etag), sha256: sha?.digest('hex') };
}

/** Uploads one local file to a block blob within the memory pool; the caller verifies it after. */
export async function uploadBlob(
  blob: BlockBlobClient,
  file: string,
  size: number,
  dest: Location,
  o: BlobUploadOptions,
): Promise<Uploaded> {
  o.signal?.throwIfAborted();
  const refused = tooBig(file, size, o.partSize);
  if (refused) throw refused;
  const fh = await openForUpload(file, size);
  try {
    const sent =
      size <= o.partSize ? await putWhole(blob, fh, file, size, o) : await putBlocks(blob, fh, file, size, o);
    return { loc: dest, size, ...sent };
  } finally {
    await fh.close();
  }
}
