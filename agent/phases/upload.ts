import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { TransferSettings } from '../config.ts';
import { isAbort, isLocalIoError } from '../errors.ts';
import type { Log } from '../log.ts';
import { formatBytes, formatRate } from '../log.ts';
import { classifyS3Error } from '../s3/errors.ts';
import type { ByteBudget } from '../s3/budget.ts';
import { uploadFile } from '../s3/upload.ts';
import { verifyUpload } from '../s3/verify.ts';
import { formatUri, keyUnder, type S3Uri } from '../uri.ts';

export interface UploadOutcome {
  rel: string;
  size: number;
  key: string;
  etag?: string;
  sha256?: string;
  verified: boolean;
  error?: string;
  exitCode?: number;
}

export interface UploadSummary {
  outcomes: UploadOutcome[];
  bytes: number;
  ms: number;
  failed: UploadOutcome[];
}

/**
 * Uploads `files` (relative to `dir`) under the `prefix`, `filesInFlight` at a time, and verifies
 * each with HeadObject (size + ETag). A failure is recorded per file; the others go on.
 */
export async function uploadTree(
  client: S3Client,
  budget: ByteBudget,
  dir: string,
  files: Array<{ rel: string; size: number }>,
  prefix: S3Uri,
  transfer: TransferSettings,
  log: Log,
  opts: { signal?: AbortSignal; endpoint?: string } = {},
): Promise<UploadSummary> {
  const started = Date.now();
  const limit = pLimit(transfer.filesInFlight);
  let bytes = 0;
  const outcomes = await Promise.all(
    files.map((f) =>
      limit(async (): Promise<UploadOutcome> => {
        const dest = { bucket: prefix.bucket, key: keyUnder(prefix, f.rel) };
        try {
          const up = await uploadFile(client, join(dir, f.rel), f.size, dest, {
            partSize: transfer.partSize,
            partsPerFile: transfer.partsPerFile,
            budget,
            signal: opts.signal,
          });
          const v = await verifyUpload(client, prefix.bucket, up, opts.signal);
          if (!v.ok) {
            log.error(`verify failed for ${formatUri(dest)}: ${v.reason}`);
            return { ...f, key: dest.key, verified: false, error: v.reason };
          }
          bytes += f.size;
          return { ...f, key: dest.key, etag: up.expectedEtag, sha256: up.sha256, verified: true };
        } catch (err) {
          if (isAbort(err)) return { ...f, key: dest.key, verified: false, error: 'cancelled' };
          const e = isLocalIoError(err)
            ? { message: `cannot read ${f.rel}: ${(err as Error).message}`, exitCode: 74 }
            : (() => {
                const c = classifyS3Error(err, { phase: 'upload', op: 'upload', target: formatUri(dest), endpoint: opts.endpoint });
                return { message: c.render(), exitCode: c.exitCode };
              })();
          log.error(e.message);
          return { ...f, key: dest.key, verified: false, error: e.message, exitCode: e.exitCode };
        }
      }),
    ),
  );
  const ms = Date.now() - started;
  const failed = outcomes.filter((o) => !o.verified);
  log.info(
    `uploaded ${outcomes.length - failed.length}/${outcomes.length} file(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)} s (${formatRate(bytes, ms)}) to ${formatUri(prefix)}`,
  );
  return { outcomes, bytes, ms, failed };
}
