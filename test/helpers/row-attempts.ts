import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteBucketPolicyCommand, PutBucketPolicyCommand, type S3Client } from '@aws-sdk/client-s3';
import type { S3Env } from './env.ts';
import {
  cleanEnv,
  FERRY,
  ferry,
  startFerry,
  tempDir,
  writeAwsConfig,
  type FerryOptions,
  type FerryResult,
  type StartedFerry,
} from './ferry.ts';
import { waitFor } from './net.ts';
import { getBytes, listAll } from './s3.ts';

/** A solver's ledger of what it wrote: `rec FILE` appends `path<TAB>sha256` to $LEDGER (Ledger.fromSolver). */
export const REC = 'rec() { printf "%s\\t%s\\n" "$1" "$(sha256sum "$1" | cut -d" " -f1)" >> "$LEDGER"; };';

/** A solver that writes `names` (each file holds its name and a newline) and records them in $LEDGER. */
export const writes = (...names: string[]) => [
  'sh',
  '-c',
  `${REC} for f in ${names.join(' ')}; do echo $f > $f; rec $f; done`,
];

export type Keys = { accessKey: string; secretKey: string };

/**
 * Attempts of DOE rows in one bucket, as a platform starts them: a fresh run directory per attempt (the
 * job's AWS config in it), `ferry run --no-mpi` of a row, a solver held until the test lets it go, and
 * what the prefix says afterwards (its lease, its manifest, `ferry verify`, `ferry doe status`). Every
 * attempt gets FERRY_LEASE_TTL_SECONDS = `ttl`. `cleanup()` after each test: holds go, what still runs
 * is killed.
 */
export class RowAttempts {
  private readonly holds: string[] = [];
  private readonly started: StartedFerry[] = [];

  constructor(
    private readonly s3: S3Env,
    private readonly admin: S3Client,
    readonly bucket: string,
    readonly ttl: number,
    readonly input: string,
  ) {}

  uri(out: string): string {
    return `s3://${this.bucket}/${out}/`;
  }

  /** The environment of every ferry the tests start (cleanEnv, the lease's TTL, `extra`). */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return cleanEnv({ FERRY_LEASE_TTL_SECONDS: String(this.ttl), ...extra });
  }

  /** A run directory as the platform makes one on a node: empty but for the job's AWS config. */
  runDir(name: string, endpoint = this.s3.endpoint, keys: Keys = this.s3): string {
    const dir = tempDir(`rt-${name}`);
    writeAwsConfig(dir, { ...this.s3, endpoint }, keys);
    return dir;
  }

  /** `ferry run` of the row (input → out, solver) in a run directory holding `config`. */
  runArgs(out: string, solver: string[], extra: string[] = [], input = this.input): string[] {
    const args = ['run', '--aws-config', 'config', '--input', input, '--output', this.uri(out), '--no-mpi'];
    return [...args, '--settle', '1', ...extra, '--', ...solver];
  }

  /** Runs ferry in `dir` with `env(extra)` to its end. */
  run(dir: string, args: string[], extra: Record<string, string> = {}): Promise<FerryResult> {
    return ferry(args, { cwd: dir, env: this.env(extra) });
  }

  /** Starts ferry (see startFerry), to be killed at `cleanup` if it still runs. */
  launch(args: string[], o: FerryOptions): StartedFerry {
    const f = startFerry(args, o);
    this.started.push(f);
    return f;
  }

  /** Starts ferry (as `launch`) under libfaketime with a clock `shift` off (`+20m`: 20 minutes fast). */
  skewed(shift: string, dir: string, args: string[], extra: Record<string, string> = {}): StartedFerry {
    return this.launch(['-f', shift, FERRY, ...args], { bin: 'faketime', cwd: dir, env: this.env(extra) });
  }

  /** A hold file: the held solver waits until the test removes it (or `cleanup` does). */
  holdFile(): string {
    const hold = join(tempDir('rt-hold'), 'hold');
    writeFileSync(hold, '');
    this.holds.push(hold);
    return hold;
  }

  /**
   * The row's solver: writes out.txt, waits while `hold` exists, then writes late.txt; both say $WHO
   * (the attempt, as the test names it: the environment is not part of the row, so all are one row).
   */
  heldSolver(hold: string): string[] {
    const wait = `while [ -e ${hold} ]; do sleep 0.1; done;`;
    return ['sh', '-c', `${REC} echo "$WHO" > out.txt; rec out.txt; ${wait} echo "$WHO late" > late.txt; rec late.txt`];
  }

  /** A first attempt ($WHO = A) with the held solver; resolves once it holds the lease and its solver waits. */
  async startHeld(out: string, hold: string, dir = this.runDir(out)) {
    const ledger = join(tempDir('rt-ledger'), 'ledger.tsv');
    const run = this.launch(this.runArgs(out, this.heldSolver(hold)), {
      cwd: dir,
      env: this.env({ WHO: 'A', LEDGER: ledger }),
    });
    const ready = async () => existsSync(join(dir, 'out.txt')) && (await this.hasLease(out));
    await waitFor(`the first attempt on ${out}/ to run its solver`, ready, { alive: run.running, context: run.output });
    return { run, dir, ledger };
  }

  async manifestOf(out: string) {
    return JSON.parse((await getBytes(this.admin, this.bucket, `${out}/_manifest.json`)).toString());
  }

  async leaseOf(out: string) {
    return JSON.parse((await getBytes(this.admin, this.bucket, `${out}/_ferry.lease`)).toString());
  }

  async hasLease(out: string): Promise<boolean> {
    return (await listAll(this.admin, this.bucket, `${out}/`)).has(`${out}/_ferry.lease`);
  }

  /** `ferry verify --deep` of the prefix: its exit code (0 whole, 1 not) and what it said. */
  async verify(out: string, keys: Keys = this.s3): Promise<{ code: number; all: string }> {
    const config = writeAwsConfig(tempDir('rt-v'), this.s3, keys);
    const v = await ferry(['verify', '--deep', '--aws-config', config, this.uri(out)]);
    return { code: v.exitCode, all: v.all };
  }

  /** `ferry doe status --json` of the one row (input → out): its exit code and its row (undefined: none). */
  async doeStatus(out: string, keys: Keys = this.s3): Promise<{ code: number; all: string; row?: { status: string } }> {
    const dir = this.runDir('doe', this.s3.endpoint, keys);
    writeFileSync(join(dir, 'inputs.csv'), `s3_input,s3_output\n${this.input},${this.uri(out)}\n`);
    const args = ['doe', 'status', 'inputs.csv', '--aws-config', 'config', '--json'];
    const r = await ferry(args, { cwd: dir, env: this.env() });
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
    const row = lines.map((l) => JSON.parse(l)).find((l) => l.type === 'row');
    return { code: r.exitCode, all: r.all, row };
  }

  /**
   * A bucket policy (the one `ferry policy` writes for `principal`'s runs of the row input → out) that
   * also denies it s3:DeleteObject on the lease of `out`. Returns what removes the policy again.
   */
  async denyLeaseDelete(out: string, principal: string): Promise<() => Promise<void>> {
    const args = ['policy', '--input', this.input, '--output', this.uri(out), '--bucket-policy', principal];
    const p = await ferry(args);
    if (p.exitCode !== 0) throw new Error(`ferry policy: ${p.all}`);
    const policy = JSON.parse(p.stdout);
    policy.Statement.push({
      Sid: 'KeepTheLease',
      Effect: 'Deny',
      Principal: { AWS: [principal] },
      Action: ['s3:DeleteObject'],
      Resource: [`arn:aws:s3:::${this.bucket}/${out}/_ferry.lease`],
    });
    await this.admin.send(new PutBucketPolicyCommand({ Bucket: this.bucket, Policy: JSON.stringify(policy) }));
    return async () => void (await this.admin.send(new DeleteBucketPolicyCommand({ Bucket: this.bucket })));
  }

  /** After each test, passed or failed: every hold goes, and every ferry still running is killed. */
  async cleanup(): Promise<void> {
    for (const h of this.holds.splice(0)) rmSync(h, { force: true });
    for (const f of this.started.splice(0)) {
      if (f.running()) f.child.kill('SIGKILL');
      await f.result;
    }
  }
}
