import { existsSync, writeFileSync } from 'node:fs';
import { join, posix, relative, resolve } from 'node:path';
import { storeSettings, transferSettings } from '../../config.ts';
import { OUTPUT } from '../../config/run-flags.ts';
import type { Args } from '../../flags/parse.ts';
import { EXIT, FerryError, usageError } from '../../errors.ts';
import { formatCsv } from '../../csv.ts';
import { profileForSolver } from '../../checkpoint/profiles.ts';
import { isZipName } from '../../names.ts';
import { executableName } from '../../platform.ts';
import { asPrefix, formatUri, isPrefix, overlaps, parseUri, withKey, type Location } from '../../location.ts';
import { planInputs } from '../../transfer/fetch.ts';
import { invokedAs, versionInfo } from '../../version.ts';
import { shellWord } from '../../shell.ts';
import { AWS_CONFIG, AZURE_CONFIG } from '../../config/store.ts';
import { openStores, type CommandContext } from '../context.ts';
import { DIR, DOE_INIT, FORCE, INPUTS } from './spec.ts';
import { parseFor } from '../spec.ts';

export const VARS_TEMPLATE = 'ferry-vars.txt';

/** Every input zip: the zip URIs as given, and the zips under each input prefix. */
async function findZips(ctx: CommandContext, p: Args, sources: Location[]): Promise<Location[]> {
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), transferSettings(p));
  const zips: Location[] = [];
  try {
    for (const u of sources) {
      if (!isPrefix(u)) {
        // as ferry get would: a missing key that is really a prefix is named so (add the /)
        const [job] = await planInputs((loc) => stores.for(loc), [u], ctx.stop);
        if (!isZipName(job.loc.key))
          throw usageError(
            `${formatUri(u)} is not a .zip (doe init makes one row per input zip)`,
            'give the prefix that holds the zips (ending with /), or the zips themselves',
          );
        zips.push(u);
        continue;
      }
      const found = await (await stores.for(u)).list(u, { phase: 'download', signal: ctx.stop });
      zips.push(...found.filter((o) => isZipName(o.key)).map((o) => withKey(u, o.key)));
    }
  } finally {
    await stores.close();
  }
  if (zips.length > 0) return zips;
  throw new FerryError('no .zip inputs found', {
    phase: 'download',
    target: sources.map(formatUri).join(' '),
    exitCode: EXIT.noInput,
    hint: 'check the prefix (keys are case-sensitive; a prefix ends with /)',
  });
}

/** The input zips and the output prefix, refused when they overlap. */
function parseSources(p: Args): { sources: Location[]; output: Location } {
  const sources = [...p.get(INPUTS), ...p.positionals].map((t) => parseUri(t, '--inputs'));
  const outText = p.get(OUTPUT);
  if (sources.length === 0 || !outText) {
    throw usageError(
      'ferry doe init needs --inputs s3://BUCKET/PREFIX/ (or zip URIs) and --output s3://BUCKET/PREFIX/',
    );
  }
  const output = asPrefix(parseUri(outText, '--output'));
  for (const u of sources) {
    if (!overlaps(output, u)) continue;
    const hint = 'give the outputs a prefix of their own, e.g. s3://BUCKET/output/ beside s3://BUCKET/input/';
    throw usageError(`--output ${formatUri(output)} overlaps the input ${formatUri(u)}`, hint);
  }
  return { sources, output };
}

/** The solver line of the job setup: the command, and the checkpoint profile ferry found for it. */
interface SolverLine {
  solver: string;
  runFlags: string;
  profile?: string;
  /** The credentials flag of the job's store: --aws-config config, or --azure-config azure. */
  creds: string;
  credsFile: string;
  /** The same for commands run here (the file doe init was given, else the job's), and ferry as started here. */
  localCreds: string;
  self: string;
  /** inputs.csv as seen from here. */
  csvHere: string;
}

function jobSetup(csv: string, rows: number, tmpl: string, sl: SolverLine, policyArgs: string, output: string): string {
  const v = versionInfo().version;
  const { solver, runFlags, creds, localCreds, self, csvHere } = sl;
  const checkpoints = sl.profile
    ? `  checkpoints       --checkpoint ${sl.profile}: on a preemption or a lost node, the platform's retry
                    carries the row on from its last restart file (README "Preemption and restarts")\n`
    : '';
  return `Wrote ${csv} (${rows} rows) and ${tmpl}.

First, check the setup (on a node or a laptop, with the job's config file):
  ${self} check ${localCreds} ${policyArgs} --output ${output}

Job setup:
  input files       ferry for the processors of the nodes you pick, uploaded renamed to ferry
                    (\`uname -m\` on a node says x86_64 or aarch64):
                      ${executableName(v, 'x64')}    x86-64 nodes (Intel, AMD)
                      ${executableName(v, 'arm64')}  Arm nodes (AWS Graviton such as hpc7g, Azure Cobalt, NVIDIA Grace)
                    ${sl.credsFile},
                    ${VARS_TEMPLATE} (mark it as a template: the platform fills in \${s3_input} and \${s3_output})
  run definition    inputs.csv (columns s3_input, s3_output: one row per case)
  command           ./ferry run --vars ${VARS_TEMPLATE} ${creds}${runFlags} -- ${solver}
${checkpoints}  cores per slot    as many as the solver's licence allows (ferry passes RESCALE_CORES_PER_SLOT
                    to mpirun -np)
  IAM policy        ${self} policy ${policyArgs} --output ${output} > policy.json
  rehearse first    ${self} doe rehearse ${csvHere} --slots 2 ${localCreds}${runFlags} -- ${solver}
  after the job     ${self} doe status ${csvHere} ${localCreds} --retry-csv retry.csv --html status.html
`;
}

/**
 * `ferry doe init`: one DOE row per input zip. Writes inputs.csv (s3_input,s3_output) and the vars
 * template the platform renders per row, then prints the job setup.
 */
export async function doeInitCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(DOE_INIT, ctx.argv);
  const { sources, output } = parseSources(p);
  const dir = resolve(ctx.cwd, p.get(DIR) ?? '.');
  const csv = join(dir, 'inputs.csv');
  const tmpl = join(dir, VARS_TEMPLATE);
  for (const f of [csv, tmpl]) {
    if (existsSync(f) && !p.get(FORCE)) throw usageError(`${f} exists`, 'pass --force to overwrite it, or --dir DIR');
  }
  const zips = await findZips(ctx, p, sources);
  const rows = zips.map((z) => ({
    s3_input: formatUri(z),
    s3_output: `${formatUri(output)}${posix.basename(z.key).replace(/\.zip$/i, '')}/`,
  }));
  if (new Set(rows.map((r) => r.s3_output)).size !== rows.length) {
    throw usageError('two input zips have the same name, so their outputs would collide', 'rename one of them');
  }
  writeFileSync(csv, formatCsv(['s3_input', 's3_output'], rows)); // quoted as RFC 4180 wants: keys may hold , and "
  writeFileSync(
    tmpl,
    '# rendered by the platform for each row of inputs.csv\ns3_input=${s3_input}\ns3_output=${s3_output}\n',
  );
  const solver = p.rest.length > 0 ? p.rest.join(' ') : 'converge super';
  // CONVERGE writes restart files ferry knows: a preempted row then carries on from its last one.
  const profile = profileForSolver(p.rest[0] ?? 'converge');
  const runFlags = profile ? ` --checkpoint ${profile}` : '';
  const azure = output.scheme === 'az';
  const creds = azure ? '--azure-config azure' : '--aws-config config';
  const credsFile = azure ? 'azure (the Azure config with the account)' : 'config (AWS config with the keys)';
  const policyArgs = sources.map((u) => `--input ${formatUri(u)}`).join(' ');
  const given = p.get(azure ? AZURE_CONFIG : AWS_CONFIG);
  const localCreds = given ? `${azure ? '--azure-config' : '--aws-config'} ${shellWord(given)}` : creds;
  const csvHere = shellWord(relative(ctx.cwd, csv) || 'inputs.csv');
  const line = { solver, runFlags, profile, creds, credsFile, localCreds, self: invokedAs(ctx.env), csvHere };
  process.stdout.write(jobSetup(csv, rows.length, tmpl, line, policyArgs, formatUri(output)));
  return EXIT.ok;
}
