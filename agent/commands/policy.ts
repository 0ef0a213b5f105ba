import { list, parseArgs, str } from '../args.ts';
import { EXIT, usageError } from '../errors.ts';
import { buildPolicy, WHY } from '../policy.ts';
import { asPrefix, parseUri } from '../location.ts';
import type { CommandContext } from './context.ts';

export const POLICY_FLAGS = [
  { name: 'input', kind: 'multi' as const },
  { name: 'output', kind: 'string' as const },
  { name: 'bucket-policy', kind: 'string' as const },
  { name: 'help', kind: 'bool' as const },
];

/** `ferry policy`: the least-privilege policy JSON on stdout, what each action is for on stderr. */
export async function policyCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, POLICY_FLAGS, false);
  const inputs = [...list(p, 'input'), ...p.positionals].map((t) => parseUri(t, '--input'));
  const outText = str(p, 'output');
  if (inputs.length === 0 || !outText)
    throw usageError(
      'ferry policy needs --input URI (repeatable) and --output URI',
      'e.g. ferry policy --input s3://b/input/ --output s3://b/output/',
    );
  const output = asPrefix(parseUri(outText, '--output'));
  const principal = str(p, 'bucket-policy');
  const buckets = new Set([...inputs.map((u) => u.bucket), output.bucket]);
  if (principal && buckets.size > 1) {
    throw usageError(
      `a bucket policy covers one bucket; these URIs name ${buckets.size} (${[...buckets].join(', ')})`,
      'run ferry policy once per bucket, or attach the IAM policy (without --bucket-policy) to the user or role',
    );
  }
  process.stdout.write(`${JSON.stringify(buildPolicy(inputs, output, principal), null, 2)}\n`);
  const what = principal
    ? `bucket policy for ${[...buckets][0]}, principal ${principal}`
    : "IAM policy for the user or role whose keys are in the job's config file";
  process.stderr.write(`ferry: ${what}:\n`);
  for (const [action, why] of Object.entries(WHY)) process.stderr.write(`  ${action.padEnd(30)} ${why}\n`);
  return EXIT.ok;
}
