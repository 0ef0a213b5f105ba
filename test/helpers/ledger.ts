import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { getBytes, listAll, putBytes } from './s3.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The bytes at `path`, or undefined; a path of PATH_MAX or more is read by walking down to it folder by folder. */
function readLocal(path: string): Buffer | undefined {
  try {
    if (Buffer.byteLength(path) < 4096) return existsSync(path) ? readFileSync(path) : undefined;
    const walk = 'cd / && for d in "${@:1:$#-1}"; do cd -- "$d" || exit 1; done && cat -- "${@: -1}"';
    const parts = path.split('/').filter(Boolean);
    return execFileSync('bash', ['-c', walk, 'walk', ...parts], { stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

/** The ledger a fixture solver keeps: one `path<TAB>sha256` line per file it finished; the last line of a path wins. */
export function readLedger(file: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [rel, hash] = line.split('\t');
    if (rel && hash) out.set(rel, hash);
  }
  return out;
}

/**
 * Where each file of the ledger is now, byte for byte: in the run directory, or in S3 under the
 * prefix. Returns the paths found in neither (the test expects none).
 */
export async function lostFiles(
  ledger: Map<string, string>,
  dir: string,
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<string[]> {
  const lost: string[] = [];
  for (const [rel, hash] of ledger) {
    const local = readLocal(join(dir, rel));
    if (local && sha(local) === hash) continue;
    const remote = await getBytes(s3, bucket, `${prefix}${rel}`).catch(() => undefined);
    if (remote && sha(remote) === hash) continue;
    lost.push(rel);
  }
  return lost;
}

/** Pids of live processes whose environment holds `name=value` and whose command starts with `cmd`. */
export function pidsWith(name: string, value: string, cmd: string): number[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/environ`).includes(needle) &&
          readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith(cmd)
        );
      } catch {
        return false;
      }
    });
}

/** Processes (pid and command) whose environment holds `name=value` (the test's own mark). */
export function processesWith(name: string, value: string): string[] {
  const needle = Buffer.from(`${name}=${value}\0`);
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (!readFileSync(`/proc/${pid}/environ`).includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      out.push(
        `${pid} ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')} ` +
          `(cwd ${readlinkSync(`/proc/${pid}/cwd`)})`,
      );
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Every byte a test wrote or saw written — by the test itself, the solver, its helpers — and where it
 * must be afterwards: on disk (a path relative to the run directory; `../x` for one outside it) or in
 * the store under the output prefix; objects the test put in the store, in the store.
 */
export class Ledger {
  /** Local path (relative to `dir`) → sha256 of its last bytes. */
  readonly files = new Map<string, string>();
  /** Object key → sha256 of the bytes the test put there. */
  readonly objects = new Map<string, string>();

  constructor(readonly dir: string) {}

  /** Writes `content` at `rel` (folders made) and records it. Returns the absolute path. */
  write(rel: string, content: string | Buffer): string {
    const path = join(this.dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    this.files.set(rel, sha(Buffer.from(content)));
    return path;
  }

  /** Bytes someone else wrote at `rel` (the test knows them). */
  record(rel: string, content: string | Buffer): void {
    this.files.set(rel, sha(Buffer.from(content)));
  }

  /** The lines a fixture solver or helper kept (`path<TAB>sha256`, paths relative to the run directory). */
  fromSolver(file: string): this {
    for (const [rel, hash] of readLedger(file)) this.files.set(rel, hash);
    return this;
  }

  /** Puts an object in the store and records it (an input: it must stay there). */
  async put(s3: S3Client, bucket: string, key: string, body: string | Buffer): Promise<void> {
    await putBytes(s3, bucket, key, body);
    this.objects.set(key, sha(Buffer.from(body)));
  }

  /** Values no object under the prefix may hold, besides the secret key of the client `lost` is given. */
  readonly secrets: string[] = [];

  /**
   * What is neither where it was left nor under `prefix` in the store, byte for byte, and every object
   * under `prefix` that holds a secret (the secret key of `s3`, which the tests give ferry too, and
   * `secrets`): the test expects none.
   */
  async lost(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
    const lost = await lostFiles(
      new Map([...this.files].filter(([rel]) => !rel.startsWith('../'))),
      this.dir,
      s3,
      bucket,
      prefix,
    );
    for (const [rel, hash] of this.files) {
      if (!rel.startsWith('../')) continue;
      const local = readLocal(join(this.dir, rel));
      if (!local || sha(local) !== hash) lost.push(rel);
    }
    for (const [key, hash] of this.objects) {
      const got = await getBytes(s3, bucket, key).catch(() => undefined);
      if (!got || sha(got) !== hash) lost.push(`s3://${bucket}/${key}`);
    }
    const key = (await s3.config.credentials()).secretAccessKey;
    return [...lost, ...(await secretsIn(s3, bucket, prefix, [key, ...this.secrets]))];
  }
}

/** Objects under `prefix` whose bytes hold one of `secrets`: `key holds <secret>` lines (the test expects none). */
export async function secretsIn(s3: S3Client, bucket: string, prefix: string, secrets: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const key of (await listAll(s3, bucket, prefix)).keys()) {
    const body = (await getBytes(s3, bucket, key)).toString('latin1');
    for (const s of secrets) if (s.length >= 4 && body.includes(s)) found.push(`${key} holds ${s}`);
  }
  return found;
}
