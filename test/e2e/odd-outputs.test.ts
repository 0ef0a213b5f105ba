import { chmodSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { Ledger } from '../helpers/ledger.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';

// Outputs ferry cannot upload — a folder it may not read, a path longer than PATH_MAX, a key longer
// than a store allows — are kept, listed as not uploaded with the reason, and the rest goes up (73);
// a low limit of open files slows the upload down instead of failing it.
const BUCKET = 'ferry-i21-odd';
const s3 = inject('s3');
const admin = adminClient(s3);
const INPUT = `s3://${BUCKET}/in/params.txt`;
const REC = 'rec() { printf "%s\\t%s\\n" "$1" "$(sha256sum "$1" | cut -d" " -f1)" >> "$LEDGER"; };';
const manifest = async (prefix: string) =>
  JSON.parse((await getBytes(admin, BUCKET, `${prefix}_manifest.json`)).toString());

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await new Ledger(tempDir('odd-in')).put(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

/**
 * `ferry run` in `dir` through `sh -c` (for `ulimit`); as root without the capabilities that let root
 * read any folder (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a folder with mode 000 is unreadable to
 * ferry as it is to a user.
 */
function run(dir: string, out: string, solver: string, o: { pre?: string; env?: Record<string, string> } = {}) {
  writeAwsConfig(dir, s3);
  const args = ['run', '--aws-config', 'config', '--input', INPUT, '--output', `s3://${BUCKET}/${out}/`, '--no-mpi'];
  const caps = '-dac_override,-dac_read_search';
  const asUser = process.getuid?.() === 0 ? `setpriv --inh-caps=${caps} --bounding-set=${caps} ` : '';
  const line = `${o.pre ?? ''} exec ${asUser}"$FERRY" ${args.join(' ')} -- sh -c "$SOLVER"`;
  return execa('sh', ['-c', line], {
    cwd: dir,
    env: { ...cleanEnv(o.env), FERRY, SOLVER: solver },
    extendEnv: false,
    reject: false,
    all: true,
  });
}

describe('a folder ferry may not read', () => {
  it("a solver's chmod 000 and a lost+found there before: the rest uploaded, both not uploaded, 73", async () => {
    const dir = tempDir('unreadable');
    const ledgerFile = join(tempDir('odd-ledger'), 'ledger.tsv');
    const ledger = new Ledger(dir);
    ledger.write('lost+found/old.bin', 'recovered blocks\n');
    chmodSync(join(dir, 'lost+found'), 0o000);
    const solver =
      `${REC} mkdir -p ok secret; echo fine > ok/o.txt; rec ok/o.txt; echo hidden > secret/s.txt; ` +
      'rec secret/s.txt; chmod 000 secret';
    try {
      const r = await run(dir, 'unreadable', solver, { env: { LEDGER: ledgerFile } });
      expect(r.exitCode, r.all).toBe(73);
      expect(r.all).not.toContain('run directory is not writable');
      expect((await getBytes(admin, BUCKET, 'unreadable/ok/o.txt')).toString()).toBe('fine\n');
      const m = await manifest('unreadable/');
      expect(m.status).toBe('incomplete');
      expect(m.not_uploaded.map((n: { path: string }) => n.path).sort()).toEqual(['lost+found', 'secret']);
      for (const n of m.not_uploaded) expect(n.error).toContain('the folder cannot be read (EACCES)');
      expect(r.all).toMatch(/not uploading secret: the folder cannot be read \(EACCES\).*chmod u\+rx/);
    } finally {
      chmodSync(join(dir, 'lost+found'), 0o755);
      chmodSync(join(dir, 'secret'), 0o755);
    }
    ledger.fromSolver(ledgerFile);
    expect(await ledger.lost(admin, BUCKET, 'unreadable/')).toEqual([]);
  });
});

describe('paths and keys too long', () => {
  it('a path over 4096 bytes and a key over 1024: kept, listed with the reason, the rest uploaded, 73', async () => {
    const dir = tempDir('long');
    const ledgerFile = join(tempDir('odd-ledger'), 'ledger.tsv');
    const seg = 'd'.repeat(200);
    // 6 folders of 200 bytes: a key of ~1,230 bytes; 25 of them: a path of ~5,000 bytes (made by cd-ing down).
    const solver =
      `${REC} echo short > ok.txt; rec ok.txt; ` +
      `p=""; for i in 1 2 3 4 5 6; do p="\${p}${seg}/"; done; mkdir -p "$p"; ` +
      'echo key > "${p}k.txt"; rec "${p}k.txt"; ' +
      `python3 -c "$DEEP"`;
    // 25 folders of 201 bytes, made by going down one at a time (no shell's cd takes a path that long).
    const deep =
      'import os,hashlib\nd="d"*200+"x"\nfor i in range(25):\n  os.mkdir(d); os.chdir(d)\n' +
      'open("deep.txt","w").write("deep\\n")\nh=hashlib.sha256(b"deep\\n").hexdigest()\n' +
      'open(os.environ["LEDGER"],"a").write((d+"/")*25+"deep.txt\\t"+h+"\\n")';
    const r = await run(dir, 'long', solver, { env: { LEDGER: ledgerFile, DEEP: deep } });
    expect(r.exitCode, r.all).toBe(73);
    expect(r.all).not.toContain('internal error');
    expect(r.all).not.toContain('InvalidObjectName');
    expect((await getBytes(admin, BUCKET, 'long/ok.txt')).toString()).toBe('short\n');
    const m = await manifest('long/');
    const why = Object.fromEntries(m.not_uploaded.map((n: { path: string; error: string }) => [n.path, n.error]));
    expect(why[`${`${seg}/`.repeat(6)}k.txt`]).toMatch(/its key would be 12\d\d bytes, more than the 1024/);
    const deepRel = Object.keys(why).find((p) => p.startsWith(`${seg}x/`))!;
    expect(why[deepRel]).toContain('4096 bytes or longer (PATH_MAX)');
    expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(['ok.txt']);
    const ledger = new Ledger(dir).fromSolver(ledgerFile);
    expect(ledger.files.size).toBe(3);
    expect(await ledger.lost(admin, BUCKET, 'long/')).toEqual([]);
  });
});

describe('a low limit of open files', () => {
  it('ulimit -n 100, 300 small outputs: fewer in flight, a warning naming the limit, every file up, 0', async () => {
    const dir = tempDir('ulimit');
    const ledgerFile = join(tempDir('odd-ledger'), 'ledger.tsv');
    const solver = `${REC} mkdir res; for i in $(seq 300); do echo "file $i" > res/f_$i.txt; rec res/f_$i.txt; done`;
    const r = await run(dir, 'ulimit', solver, { pre: 'ulimit -n 100 &&', env: { LEDGER: ledgerFile } });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toContain('the limit of open files (ulimit -n) is 100');
    expect(r.all).not.toContain('EMFILE');
    const keys = await listAll(admin, BUCKET, 'ulimit/res/');
    expect(keys.size).toBe(300);
    const ledger = new Ledger(dir).fromSolver(ledgerFile);
    expect(await ledger.lost(admin, BUCKET, 'ulimit/')).toEqual([]);
    expect(readdirSync(dir).sort()).toEqual(['ferry.log']);
  });
});
