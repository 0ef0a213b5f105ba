import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { ROOT, type S3Env } from './env.ts';

/** The ferry under test: bin/ferry from source, or FERRY_BIN (the single-file build). */
export const FERRY = resolve(ROOT, process.env.FERRY_BIN ?? 'bin/ferry');

export interface FerryResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  all: string;
}

/**
 * An environment with no AWS settings of the developer's: nothing but what a test passes reaches
 * ferry (no ~/.aws, no instance metadata, no AWS_* keys).
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(AWS_|FERRY_|s3_|RESCALE_|OMPI_)/i.test(k)) continue;
    env[k] = v;
  }
  return {
    ...env,
    AWS_CONFIG_FILE: '/nonexistent/ferry-test-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/ferry-test-credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}

export async function ferry(args: string[], opts: { cwd?: string; env?: Record<string, string>; onOutput?: (s: string) => void } = {}): Promise<FerryResult> {
  const p = execa(FERRY, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), extendEnv: false, reject: false, all: true, stdin: 'ignore' });
  if (opts.onOutput) p.all?.on('data', (b: Buffer) => opts.onOutput!(b.toString()));
  const r = await p;
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), all: String(r.all) };
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `ferry-${name}-`));
}

/** An AWS config file as the job author uploads it: keys (and here the local endpoint). */
export function writeAwsConfig(dir: string, s3: S3Env, keys: { accessKey: string; secretKey: string } = s3, name = 'config'): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `[default]\naws_access_key_id = ${keys.accessKey}\naws_secret_access_key = ${keys.secretKey}\nregion = us-east-1\nendpoint_url = ${s3.endpoint}\n`,
  );
  return path;
}

/** Zips a fixture case folder with Info-ZIP (the files at the archive's root, as users zip them). */
export function zipCase(caseName: string, outDir: string): string {
  const out = join(outDir, `${caseName}.zip`);
  execFileSync('zip', ['-qr', '-X', out, '.'], { cwd: join(ROOT, 'fixtures/cases', caseName) });
  return out;
}
