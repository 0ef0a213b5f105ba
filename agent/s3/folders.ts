import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Location } from '../location.ts';

/** The sub-prefixes directly under `prefix` (ListObjectsV2 with Delimiter '/'), page by page. */
export async function listFolders(client: S3Client, prefix: Location, signal?: AbortSignal): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: prefix.bucket,
        Prefix: prefix.key,
        Delimiter: '/',
        ContinuationToken: token,
        MaxKeys: 1000,
      }),
      { abortSignal: signal },
    );
    for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.push(p.Prefix);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}
