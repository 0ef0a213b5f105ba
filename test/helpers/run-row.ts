import type { S3Env } from './env.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig, type FerryResult } from './ferry.ts';

export interface Row {
  bucket: string;
  /** The output prefix under the bucket, without its slash. */
  out: string;
  inputs: string[];
  solver: string[];
  /** Flags before --input (after --aws-config config). */
  extra?: string[];
  env?: Record<string, string>;
  /** The run directory (default: a fresh temp dir), with `config` written into it. */
  dir?: string;
  /** No `config` written and no --aws-config passed (the test passes its own in `extra`). */
  ownConfig?: boolean;
}

/** One DOE row as the platform runs it: `ferry run --aws-config config … --no-mpi -- SOLVER` in its run dir. */
export function runRow(s3: S3Env, r: Row): { dir: string; run: Promise<FerryResult> } {
  const dir = r.dir ?? tempDir(r.out.replace(/[^a-z0-9]+/gi, '-'));
  if (!r.ownConfig) writeAwsConfig(dir, s3);
  const args = [
    'run',
    ...(r.ownConfig ? [] : ['--aws-config', 'config']),
    ...(r.extra ?? []),
    ...r.inputs.flatMap((i) => ['--input', i]),
    '--output',
    `s3://${r.bucket}/${r.out}/`,
    '--no-mpi',
    '--',
    ...r.solver,
  ];
  return { dir, run: ferry(args, { cwd: dir, env: cleanEnv(r.env) }) };
}
