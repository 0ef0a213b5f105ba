import type { S3Client } from '@aws-sdk/client-s3';
import type { Log } from '../log.ts';
import { listPrefix } from '../s3/download.ts';
import { classifyS3Error } from '../s3/errors.ts';
import { abortStaleUploads } from '../s3/multipart.ts';
import { formatUri, type S3Uri } from '../uri.ts';
import { RESERVED_OUTPUT, SUCCESS } from '../names.ts';
import { withdrawSuccess } from './manifest.ts';

/**
 * Before anything is uploaded: learn what a previous attempt left under the output prefix (so
 * unchanged files are not sent again), withdraw its `_SUCCESS` (the prefix must not claim to be
 * complete while it changes), and abort multipart uploads it left unfinished.
 */
export async function prepareOutput(client: S3Client, prefix: S3Uri, log: Log, opts: { signal?: AbortSignal; endpoint?: string }): Promise<Map<string, { size: number; etag: string }>> {
  try {
    const objects = await listPrefix(client, prefix, opts.signal);
    const own = new Set([...RESERVED_OUTPUT].map((n) => `${prefix.key}${n}`));
    const existing = new Map(objects.filter((o) => !own.has(o.key)).map((o) => [o.key, { size: o.size, etag: o.etag }]));
    if (existing.size > 0) log.info(`output prefix already holds ${existing.size} object(s) from an earlier attempt: unchanged files will not be sent again`);
    if (objects.some((o) => o.key === `${prefix.key}${SUCCESS}`)) {
      await withdrawSuccess(client, prefix, opts.signal);
      log.info(`withdrew ${formatUri(prefix)}${SUCCESS} until this run completes`);
    }
    const aborted = await abortStaleUploads(client, prefix, opts.signal);
    if (aborted > 0) log.info(`aborted ${aborted} unfinished multipart upload(s) left under ${formatUri(prefix)}`);
    return existing;
  } catch (err) {
    throw classifyS3Error(err, { phase: 'upload', op: 'checking the output prefix', target: formatUri(prefix), endpoint: opts.endpoint });
  }
}
