import { INPUT, OUTPUT } from '../../config/run-flags.ts';
import { HELP, text } from '../../flags/flag.ts';
import type { CommandSpec } from '../spec.ts';

export const BUCKET_POLICY = text('bucket-policy', {
  arg: 'PRINCIPAL',
  help:
    'a bucket policy naming PRINCIPAL (e.g. arn:aws:iam::123456789012:role/cfd)\n' +
    'instead of an IAM policy to attach to the user or role',
});
export const CROSS_ACCOUNT = text('cross-account', {
  arg: 'ACCOUNT_ID',
  help:
    'the cross-account setup: stdout is {"PermissionsPolicy", "TrustPolicy"} for a\n' +
    "role in the data's account that ACCOUNT_ID (or an IAM ARN) may assume;\n" +
    "stderr has the aws iam commands and the profile for the job's config file",
});
export const EXTERNAL_ID = text('external-id', {
  arg: 'ID',
  help:
    'with --cross-account: the trust policy requires sts:ExternalId = ID\n' +
    '(the profile then carries external_id = ID)',
});

export const POLICY: CommandSpec = {
  name: 'policy',
  usage: [
    'ferry policy --input URI [--input URI...] --output URI [--bucket-policy PRINCIPAL]',
    'ferry policy --input URI... --output URI --cross-account ACCOUNT_ID [--external-id ID]',
  ],
  summary: 'the least-privilege IAM policy (Azure: SAS, role)',
  about: `Prints the least-privilege policy (JSON, on stdout) that ferry run needs for these inputs and
this output prefix: read the inputs; write, verify, resume and clean up under the output prefix;
nothing else. What each action is for goes to stderr.
With az:// URIs: per container the service SAS permissions (rl to read inputs, rwdl for the output)
and the built-in role (Storage Blob Data Reader / Contributor); both cover the whole container.
With both stores, the IAM policy for the S3 side is under "aws".`,
  flags: [INPUT, OUTPUT, BUCKET_POLICY, CROSS_ACCOUNT, EXTERNAL_ID, HELP],
  groups: [],
  examples: [
    'ferry policy --input s3://my-simulation-data/input/ --output s3://my-simulation-data/output/ > policy.json',
    'ferry policy --input s3://my-simulation-data/input/ --output s3://my-simulation-data/output/ \\',
    '  --cross-account 123456789012 --external-id cfd-42 > setup.json',
    'ferry policy --input az://simdata/cases/in/ --output az://simdata/cases/out/',
  ],
};
