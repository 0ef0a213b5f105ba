import { INPUT, OUTPUT } from '../../config/run-flags.ts';
import { EXIT, usageError } from '../../errors.ts';
import { buildPolicy, WHY } from '../../policy.ts';
import { AZURE_WHY, buildAzureAccess, sasCommand } from '../../policy-azure.ts';
import { asPrefix, parseUri, type Location } from '../../location.ts';
import type { CommandContext } from '../context.ts';
import { BUCKET_POLICY, CROSS_ACCOUNT, EXTERNAL_ID, POLICY } from './spec.ts';
import { parseFor } from '../spec.ts';

/**
 * `ferry policy`: the least-privilege policy JSON on stdout, what each action is for on stderr. With
 * Azure locations: per container the SAS permissions and the built-in role (with S3 ones too, the
 * IAM policy for those under "aws").
 */
export async function policyCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(POLICY, ctx.argv);
  const inputs = [...p.get(INPUT), ...p.positionals].map((t) => parseUri(t, '--input'));
  const outText = p.get(OUTPUT);
  if (inputs.length === 0 || !outText)
    throw usageError(
      'ferry policy needs --input URI (repeatable) and --output URI',
      'e.g. ferry policy --input s3://b/input/ --output s3://b/output/',
    );
  const output = asPrefix(parseUri(outText, '--output'));
  if (output.scheme === 'az' || inputs.some((u) => u.scheme === 'az')) return azurePolicy(inputs, output);
  const principal = p.get(BUCKET_POLICY);
  const buckets = new Set([...inputs.map((u) => u.bucket), output.bucket]);
  if (principal && buckets.size > 1) {
    throw usageError(
      `a bucket policy covers one bucket; these URIs name ${buckets.size} (${[...buckets].join(', ')})`,
      'run ferry policy once per bucket, or attach the IAM policy (without --bucket-policy) to the user or role',
    );
  }
  const account = p.get(CROSS_ACCOUNT);
  if (account !== undefined) return crossAccount(buildPolicy(inputs, output), account, p.get(EXTERNAL_ID));
  if (p.get(EXTERNAL_ID) !== undefined) throw usageError('--external-id goes with --cross-account ACCOUNT_ID');
  process.stdout.write(`${JSON.stringify(buildPolicy(inputs, output, principal), null, 2)}\n`);
  const what = principal
    ? `bucket policy for ${[...buckets][0]}, principal ${principal}`
    : "IAM policy for the user or role whose keys are in the job's config file";
  process.stderr.write(`ferry: ${what}:\n`);
  for (const [action, why] of Object.entries(WHY)) process.stderr.write(`  ${action.padEnd(30)} ${why}\n`);
  return EXIT.ok;
}

/**
 * The cross-account setup: the role in the data's account gets the permissions policy and a trust
 * policy that lets ACCOUNT_ID (the account where compute runs) assume it, with an sts:ExternalId
 * condition when one is given. Both on stdout as one JSON object; the commands and the profile on stderr.
 */
function crossAccount(permissions: object, account: string, externalId?: string): number {
  const principal = /^\d{12}$/.test(account) ? `arn:aws:iam::${account}:root` : account;
  if (!/^\d{12}$/.test(account) && !/^arn:aws[\w-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/.test(account)) {
    throw usageError(
      `--cross-account '${account}' is neither a 12-digit account id nor an IAM ARN`,
      'e.g. --cross-account 123456789012 or --cross-account arn:aws:iam::123456789012:role/compute',
    );
  }
  if (externalId !== undefined && !/^[\w+=,.@:/-]{2,1224}$/.test(externalId)) {
    throw usageError(
      `--external-id '${externalId}' is not a valid external id`,
      '2-1224 characters of [A-Za-z0-9+=,.@:/-_]',
    );
  }
  const trust = {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'FerryCrossAccount',
        Effect: 'Allow',
        Principal: { AWS: principal },
        Action: 'sts:AssumeRole',
        ...(externalId ? { Condition: { StringEquals: { 'sts:ExternalId': externalId } } } : {}),
      },
    ],
  };
  process.stdout.write(`${JSON.stringify({ PermissionsPolicy: permissions, TrustPolicy: trust }, null, 2)}\n`);
  const ext = externalId ? `external_id = ${externalId}\n` : '';
  process.stderr.write(
    `ferry: in the data's account, a role that ${principal} may assume (save stdout as setup.json):\n` +
      '  jq .TrustPolicy setup.json > trust.json && jq .PermissionsPolicy setup.json > policy.json\n' +
      '  aws iam create-role --role-name ferry-doe --assume-role-policy-document file://trust.json\n' +
      '  aws iam put-role-policy --role-name ferry-doe --policy-name ferry --policy-document file://policy.json\n' +
      "ferry: in the job's config file (the compute account's keys or instance role as the source):\n" +
      '  [profile data]\n  role_arn = arn:aws:iam::DATA_ACCOUNT_ID:role/ferry-doe\n' +
      `  source_profile = default\n  ${ext}` +
      '  (or credential_source = Ec2InstanceMetadata / Environment; then: ferry run --profile data ...)\n',
  );
  return EXIT.ok;
}

function azurePolicy(inputs: Location[], output: Location): number {
  const s3In = inputs.filter((u) => u.scheme === 's3');
  const azure = buildAzureAccess(inputs, output);
  const aws = s3In.length > 0 || output.scheme === 's3' ? s3Part(s3In, output) : undefined;
  process.stdout.write(`${JSON.stringify({ azure, ...(aws ? { aws } : {}) }, null, 2)}\n`);
  process.stderr.write(
    'ferry: Azure: a SAS (AZURE_STORAGE_SAS_TOKEN, or ?sv=… on the URI) with these permissions, or the role\n' +
      '  for a service principal or managed identity; both cover the whole container, not only the prefixes:\n',
  );
  const roles = new Set<string>(azure.flatMap((a) => a.for.map((r) => (r === 'inputs' ? '(input)' : '(output)'))));
  for (const [perm, why] of Object.entries(AZURE_WHY))
    if (roles.has(perm.slice(perm.indexOf('(')))) process.stderr.write(`  ${perm.padEnd(30)} ${why}\n`);
  for (const a of azure) process.stderr.write(`  e.g. ${sasCommand(a)}\n`);
  if (aws) process.stderr.write('ferry: "aws" is the IAM policy for the S3 locations (see ferry policy --help)\n');
  return EXIT.ok;
}

/** The IAM policy for the S3 side of a mixed run: reading its inputs, and writing the output if it is on S3. */
function s3Part(inputs: Location[], output: Location) {
  const doc = buildPolicy(inputs, output);
  if (output.scheme !== 's3')
    doc.Statement = doc.Statement.filter((s) => s.Sid.startsWith('ReadInputs') || s.Sid.startsWith('ListInputs'));
  return doc;
}
