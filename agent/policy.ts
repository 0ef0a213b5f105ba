import { isPrefix, type Location } from './location.ts';

export interface Statement {
  Sid: string;
  Effect: 'Allow';
  Principal?: { AWS: string[] };
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string[]>>;
}

export interface PolicyDoc {
  Version: '2012-10-17';
  Statement: Statement[];
}

/** Why each action is in the policy (printed on stderr by `ferry policy`). */
export const WHY: Record<string, string> = {
  's3:GetObject (input)': 'download the input (HEAD for its size and ETag, ranged GETs for the bytes)',
  's3:ListBucket (input)':
    'list a prefix input; tell a missing key (404) from a forbidden one, ' +
    'and suggest a trailing / when the key is a folder',
  's3:PutObject':
    "upload outputs, the manifest, the run log _ferry.log and _SUCCESS, and the run's lease _ferry.lease " +
    '(multipart uploads need it too)',
  's3:GetObject (output)':
    'verify each upload with HEAD (size and ETag); read the lease of the run that holds the prefix',
  's3:DeleteObject':
    'withdraw an old _SUCCESS on a re-run; remove the lease at the end; ' +
    'remove files the solver deleted after their live upload',
  's3:AbortMultipartUpload': 'abort a failed multipart upload so no parts are left behind',
  's3:ListMultipartUploadParts': 'inspect an unfinished multipart upload before aborting it',
  's3:ListBucket (output)': 'resume: find what an earlier attempt already uploaded (size and ETag)',
  's3:ListBucketMultipartUploads': 'find unfinished multipart uploads under the output prefix (and confirm an abort)',
};

const arn = (bucket: string, key?: string) =>
  key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
const listPrefixes = (u: Location) => (isPrefix(u) ? [`${u.key}*`] : [`${u.key}/*`]);

/**
 * The least-privilege policy for `ferry run` with these inputs and this output prefix: reading the
 * inputs, writing, verifying, resuming and cleaning up under the output prefix, nothing else.
 * With `principal` it is a bucket policy (every statement names the principal).
 */
export function buildPolicy(inputs: Location[], output: Location, principal?: string): PolicyDoc {
  const st: Statement[] = [];
  [...new Set(inputs.map((u) => u.bucket))].forEach((bucket, i) => {
    const mine = inputs.filter((u) => u.bucket === bucket);
    st.push({
      Sid: `ReadInputs${i}`,
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: mine.map((u) => arn(bucket, isPrefix(u) ? `${u.key}*` : u.key)),
    });
    st.push({
      Sid: `ListInputs${i}`,
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: arn(bucket),
      Condition: { StringLike: { 's3:prefix': mine.flatMap(listPrefixes) } },
    });
  });
  st.push({
    Sid: 'WriteOutputs',
    Effect: 'Allow',
    Action: [
      's3:PutObject',
      's3:GetObject',
      's3:DeleteObject',
      's3:AbortMultipartUpload',
      's3:ListMultipartUploadParts',
    ],
    Resource: arn(output.bucket, `${output.key}*`),
  });
  st.push({
    Sid: 'ListOutputs',
    Effect: 'Allow',
    Action: ['s3:ListBucket'],
    Resource: arn(output.bucket),
    Condition: { StringLike: { 's3:prefix': [`${output.key}*`] } },
  });
  st.push({
    Sid: 'ListUnfinishedUploads',
    Effect: 'Allow',
    Action: ['s3:ListBucketMultipartUploads'],
    Resource: arn(output.bucket),
  });
  if (principal) for (const s of st) s.Principal = { AWS: [principal] };
  return { Version: '2012-10-17', Statement: st };
}
