import { execFileSync } from 'node:child_process';
import { appendFileSync, chmodSync, copyFileSync, cpSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa, type ResultPromise } from 'execa';
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
 * An environment with no AWS or Azure settings of the developer's: nothing but what a test passes reaches
 * ferry (no ~/.aws, no instance metadata, no AWS_* keys).
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(AWS_|AZURE_|IDENTITY_|MSI_|FERRY_|s3_|RESCALE_|OMPI_|HTTPS?_PROXY$|NO_PROXY$)/i.test(k))
      continue;
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

/** True when the suite runs the single-file build (FERRY_BIN) rather than bin/ferry from source. */
export const IS_BUILT = process.env.FERRY_BIN !== undefined;

/**
 * Puts ferry into a run directory as the job author does (uploaded as a job input): a copy of the
 * built binary, or a link to bin/ferry from source. Returns the command to run it by: './ferry'.
 */
export function installFerry(dir: string): string {
  const dest = join(dir, 'ferry');
  if (IS_BUILT) {
    copyFileSync(FERRY, dest);
    chmodSync(dest, 0o755);
  } else symlinkSync(FERRY, dest);
  return './ferry';
}

export interface FerryOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** The program to run instead of FERRY (a copy in the run dir, or a wrapper such as faketime). */
  bin?: string;
}

/** How every test runs ferry: only the environment given (cleanEnv by default), no stdin, output kept. */
function execaOptions(o: FerryOptions) {
  return { cwd: o.cwd, env: o.env ?? cleanEnv(), extendEnv: false, reject: false, all: true, stdin: 'ignore' } as const;
}

export interface StartedFerry {
  /** The running process (its pid, `kill`, its live `all` stream). */
  child: ResultPromise<ReturnType<typeof execaOptions>>;
  /** Settles when ferry exits. */
  result: Promise<FerryResult>;
  running(): boolean;
  /** Everything it printed so far (stdout and stderr, interleaved). */
  output(): string;
}

/** Starts ferry without waiting for it to exit. */
export function startFerry(args: string[], opts: FerryOptions = {}): StartedFerry {
  const child = execa(opts.bin ?? FERRY, args, execaOptions(opts));
  let seen = '';
  child.all.on('data', (b: Buffer) => (seen += b.toString()));
  let running = true;
  const result = child
    .then((r) => ({
      exitCode: r.exitCode ?? -1,
      stdout: String(r.stdout),
      stderr: String(r.stderr),
      all: String(r.all),
    }))
    .finally(() => {
      running = false;
    });
  return { child, result, running: () => running, output: () => seen };
}

export function ferry(args: string[], opts: FerryOptions = {}): Promise<FerryResult> {
  return startFerry(args, opts).result;
}

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `ferry-${name}-`));
}

/** An AWS config file as the job author uploads it: keys (and here the local endpoint). */
export function writeAwsConfig(
  dir: string,
  s3: S3Env,
  keys: { accessKey: string; secretKey: string } = s3,
  name = 'config',
): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    `[default]\naws_access_key_id = ${keys.accessKey}\naws_secret_access_key = ${keys.secretKey}\nregion = ` +
      `us-east-1\nendpoint_url = ${s3.endpoint}\n`,
  );
  return path;
}

/**
 * Zips a fixture case folder with Info-ZIP (the files at the archive's root, as users zip them);
 * `extra` lines are appended to its inputs.in first (fake-converge reads exit_code, hold_file…).
 */
export function zipCase(caseName: string, outDir: string, extra = ''): string {
  const out = join(outDir, `${caseName}.zip`);
  let src = join(ROOT, 'fixtures/cases', caseName);
  if (extra) {
    const copy = tempDir('case');
    cpSync(src, copy, { recursive: true });
    appendFileSync(join(copy, 'inputs.in'), extra);
    src = copy;
  }
  execFileSync('zip', ['-qr', '-X', out, '.'], { cwd: src });
  return out;
}
