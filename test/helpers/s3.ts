import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { ROOT, type S3Env } from './env.ts';

/** A tag of this checkout (of its path): see bucketFor. */
export const CHECKOUT = createHash('sha256').update(ROOT).digest('hex').slice(0, 6);

/**
 * The bucket of a test file in this checkout: `base` and the checkout's tag. Sessions that share the
 * machine's one S3 server run the suite from checkouts of their own, and each file empties its
 * bucket as it starts: the same file run from two checkouts at once must not share it. (The same
 * checkout reuses its buckets, so they do not pile up in the server's memory.)
 */
export const bucketFor = (base: string) => `${base}-${CHECKOUT}`;

/** An admin client for arranging and checking test data (not ferry's code path). */
export function adminClient(s3: S3Env, keys: { accessKey: string; secretKey: string } = s3): S3Client {
  return new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: keys.accessKey, secretAccessKey: keys.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export async function ensureBucket(c: S3Client, bucket: string): Promise<void> {
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}

export async function listAll(c: S3Client, bucket: string, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  do {
    const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) out.set(o.Key!, o.Size ?? 0);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export async function emptyPrefix(c: S3Client, bucket: string, prefix: string): Promise<void> {
  const keys = [...(await listAll(c, bucket, prefix)).keys()];
  for (let i = 0; i < keys.length; i += 1000) {
    await c.send(
      new DeleteObjectsCommand({
        Bucket: bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
      }),
    );
  }
}

export async function putBytes(c: S3Client, bucket: string, key: string, body: Buffer | string): Promise<void> {
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function getBytes(c: S3Client, bucket: string, key: string): Promise<Buffer> {
  const r = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/**
 * What is under `prefix`, byte for byte: key → `<ETag> <sha256 of the body> <LastModified>`. Two
 * snapshots are equal only when no object was added, removed or written again in between (a rewrite
 * with the same bytes too: its LastModified moves, to the second).
 */
export async function snapshot(c: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  do {
    const r = await c.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) {
      const body = await getBytes(c, bucket, o.Key!);
      out.set(o.Key!, `${o.ETag} ${createHash('sha256').update(body).digest('hex')} ${o.LastModified?.toISOString()}`);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}
