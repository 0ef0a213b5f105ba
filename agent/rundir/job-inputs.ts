// The job's own files in a run directory: the inputs named on the command line (--aws-config,
// --azure-config, --vars, --proxy-auth-file, a --proxy-pac file, ferry itself) and the files the SDKs
// read credentials from. Wherever they sit in the run directory they are never uploaded, not even
// with --upload-all (they hold the keys and the proxy password). Those named on the command line
// that sit at its top — where the platform stages job inputs — are deleted by the wipe, each named
// in the log: left there, the platform would archive the credentials with the run directory.
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { isPacFile, type RunConfig } from '../config.ts';
import { isOwnObject } from '../names.ts';
import { selfCommand } from '../version.ts';

export interface JobInputs {
  /** At the top of the run directory, named on the command line: deleted by the wipe (relative path → why). */
  top: Map<string, string>;
  /** Anywhere in the run directory (the top ones too): never uploaded (relative paths, '/'). */
  anywhere: Set<string>;
}

/** Files the SDKs read credentials or tokens from, when the environment names them (or ~/.aws). */
function credentialFiles(env: NodeJS.ProcessEnv): string[] {
  let home = env.HOME;
  try {
    home ||= homedir();
  } catch {
    // no home: no ~/.aws
  }
  return [
    env.AWS_CONFIG_FILE,
    env.AWS_SHARED_CREDENTIALS_FILE,
    env.AWS_WEB_IDENTITY_TOKEN_FILE,
    env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
    env.AZURE_FEDERATED_TOKEN_FILE,
    env.AZURE_CLIENT_CERTIFICATE_PATH,
    home && join(home, '.aws', 'config'),
    home && join(home, '.aws', 'credentials'),
  ].filter((f): f is string => !!f);
}

/** `f` relative to the run directory `dir` (the name itself, not a link's target), or undefined outside it. */
function inside(dir: string, cwd: string, f: string): string | undefined {
  let real = resolve(cwd, f);
  try {
    real = join(realpathSync(dirname(real)), basename(real));
  } catch {
    // gone already: its name as given
  }
  const rel = relative(dir, real);
  return rel && !rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep)
    ? rel.split(sep).join('/')
    : undefined;
}

/** The job's own files in the run directory (see the top of this file). */
export function jobInputs(cfg: RunConfig, env: NodeJS.ProcessEnv, cwd: string): JobInputs {
  const dir = realpathSync(cfg.workdir);
  const { s3, azure, net } = cfg.stores;
  const pacFile = isPacFile(net.pac) ? net.pac : undefined;
  // ferry as the job calls it (bin/ferry says how it was invoked; a link to it is ferry too)
  const invoked = env.FERRY_INVOKED ? resolve(cwd, env.FERRY_INVOKED) : undefined;
  const named: Array<[string | undefined, string]> = [
    [s3.awsConfigFile, '--aws-config'],
    [azure.configFile, '--azure-config'],
    [cfg.varsFile, '--vars'],
    [net.authFile, '--proxy-auth-file'],
    [pacFile, '--proxy-pac'],
    [selfCommand(env), 'ferry itself'],
    [invoked, 'ferry itself'],
  ];
  const out: JobInputs = { top: new Map(), anywhere: new Set() };
  for (const [f, what] of named) {
    const rel = f && inside(dir, cwd, f);
    if (!rel) continue;
    out.anywhere.add(rel);
    if (!rel.includes('/') && !out.top.has(rel)) out.top.set(rel, what);
  }
  for (const f of credentialFiles(env)) {
    const rel = inside(dir, cwd, f);
    if (rel) out.anywhere.add(rel);
  }
  return out;
}

/** Files that are never outputs: ferry's own, the job's own (credentials, ferry itself), reserved names. */
export function notOutput(job: JobInputs, own: { isOwn(rel: string): boolean }): (rel: string) => boolean {
  return (rel) => own.isOwn(rel) || job.anywhere.has(rel) || isOwnObject(rel);
}
