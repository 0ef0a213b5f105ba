import { AbortMultipartUploadCommand, CreateMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Location } from '../location.ts';
import type { Call, SelfCheck } from '../store/store.ts';
import { S3Store } from './store.ts';
import type { MadeClient } from './client.ts';
import { callerIdentity } from './sts.ts';

/** `ferry check`'s facts about the S3 side: credentials (no secret), caller, region, endpoint, STS, clock. */
export async function aboutS3(made: MadeClient, where: string): Promise<Array<[string, string]>> {
  const { identity, parts } = made;
  await identity.get();
  const exp = identity.expiresAt;
  const story = identity.story;
  const renew = story.refreshable ? 'renewed by ferry before they expire' : 'not renewable';
  const expiry = exp ? `, expire ${exp.toISOString()} (${renew})` : '';
  const offset = made.clock.offsetMs;
  const clock =
    offset === undefined
      ? 'unknown (no answer carried a Date)'
      : Math.abs(offset) < 2000
        ? `within 2 s of the server's (${(offset / 1000).toFixed(1)} s)`
        : `${Math.round(Math.abs(offset) / 1000)} s ${offset > 0 ? 'behind' : 'ahead of'} the server's`;
  return [
    ['credentials', `${story.kind}, from ${story.from}${expiry}`],
    ['caller', await callerIdentity(identity, parts)],
    ['region', made.region],
    ['endpoint', where],
    ['sts', parts.sts ?? `https://sts.${made.region}.amazonaws.com`],
    ['clock', clock],
  ];
}

/** Creates a multipart upload at `loc` and aborts it (what a failed big upload does). */
export async function startAndAbort(client: S3Client, loc: Location, signal?: AbortSignal): Promise<void> {
  const up = await client.send(new CreateMultipartUploadCommand({ Bucket: loc.bucket, Key: loc.key }), {
    abortSignal: signal,
  });
  await client.send(new AbortMultipartUploadCommand({ Bucket: loc.bucket, Key: loc.key, UploadId: up.UploadId }), {
    abortSignal: signal,
  });
}

/** The S3 store with `ferry check`'s ability (SelfCheck): what it was made of, and the multipart probe. */
export class CheckableS3Store extends S3Store implements SelfCheck {
  constructor(
    made: MadeClient,
    ...rest: ConstructorParameters<typeof S3Store> extends [unknown, ...infer R] ? R : never
  ) {
    super(made.client, ...rest);
    this.made = made;
    this.serverClock = made.clock;
  }

  private readonly made: MadeClient;

  about(): Promise<Array<[string, string]>> {
    return aboutS3(this.made, this.where);
  }

  multipartAbort(loc: Location, call: Call): Promise<void> {
    return this.guard('starting and aborting an upload in parts', loc, call, () =>
      startAndAbort(this.client, loc, call.signal),
    );
  }
}
