import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';

/**
 * Adds Content-MD5 to every PutObject and UploadPart whose body is in memory, so the server
 * rejects a corrupted body instead of storing it, and remembers each part's MD5 so the multipart
 * ETag can be checked after CompleteMultipartUpload (ETag = md5(part md5s) + "-" + parts).
 */
export class PartDigests {
  private readonly byKey = new Map<string, Map<number, Buffer>>();

  track(bucket: string, key: string): void {
    this.byKey.set(`${bucket}\0${key}`, new Map());
  }

  record(bucket: string, key: string, part: number, md5: Buffer): void {
    this.byKey.get(`${bucket}\0${key}`)?.set(part, md5);
  }

  /** The ETag S3 computes for the parts recorded under this key, and forgets them. */
  take(bucket: string, key: string): string | undefined {
    const parts = this.byKey.get(`${bucket}\0${key}`);
    this.byKey.delete(`${bucket}\0${key}`);
    if (!parts || parts.size === 0) return undefined;
    const ordered = [...parts.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
    return `${createHash('md5').update(Buffer.concat(ordered)).digest('hex')}-${ordered.length}`;
  }
}

interface BodyInput {
  Body?: unknown;
  Bucket?: string;
  Key?: string;
  PartNumber?: number;
}

export function addContentMd5(client: S3Client, digests: PartDigests): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const cmd = context.commandName;
      const input = args.input as BodyInput;
      const req = args.request as { headers?: Record<string, string> } | undefined;
      if ((cmd === 'PutObjectCommand' || cmd === 'UploadPartCommand') && input.Body instanceof Uint8Array && req?.headers) {
        const md5 = createHash('md5').update(input.Body).digest();
        if (!Object.keys(req.headers).some((h) => h.toLowerCase() === 'content-md5')) {
          req.headers['content-md5'] = md5.toString('base64');
        }
        if (cmd === 'UploadPartCommand' && input.Bucket && input.Key && input.PartNumber) {
          digests.record(input.Bucket, input.Key, input.PartNumber, md5);
        }
      }
      return next(args);
    },
    { step: 'build', name: 'ferryContentMd5', override: true },
  );
}
