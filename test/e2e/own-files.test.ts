import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, ferry, installFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { Ledger } from '../helpers/ledger.ts';
import { canMountTmpfs } from '../helpers/mount.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';

// Only files ferry itself made are ferry's. A solver's file named like one of ferry's temp files is an
// output; ferry's own console redirected into the run directory is ferry's; in a home or project
// folder only what the run made is deleted, plus the job inputs named on the command line (each named
// in the log); a full disk does not stop the manifest.
const BUCKET = 'ferry-i21-own';
const s3 = inject('s3');
const admin = adminClient(s3);
const manifest = async (prefix: string) =>
  JSON.parse((await getBytes(admin, BUCKET, `${prefix}_manifest.json`)).toString());
/** A shell line that records a finished file in $LEDGER (path<TAB>sha256). */
const REC = 'rec() { printf "%s\\t%s\\n" "$1" "$(sha256sum "$1" | cut -d" " -f1)" >> "$LEDGER"; };';

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await new Ledger(tempDir('own-in')).put(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

describe("a solver's files named like ferry's temp files", () => {
  it('are outputs: uploaded, in the manifest, deleted only after verification; _SUCCESS', async () => {
    const ledgerFile = join(tempDir('own-ledger'), 'ledger.tsv');
    const names = [
      'res/data.ferry-part',
      '.ferry-input-mesh',
      'res/deep/.ferry-input-case.zip',
      'x.ferry-0123456789ab-0',
    ];
    const script =
      `${REC} mkdir -p res/deep; ` + `for f in ${names.join(' ')}; do echo "solver wrote $f" > "$f"; rec "$f"; done`;
    const { dir, run } = runRow(s3, {
      bucket: BUCKET,
      out: 'tempnames',
      inputs: [`s3://${BUCKET}/in/params.txt`],
      solver: ['sh', '-c', script],
      env: { LEDGER: ledgerFile },
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    const m = await manifest('tempnames/');
    expect(m.status).toBe('complete');
    expect(m.outputs.map((o: { path: string }) => o.path).sort()).toEqual([...names].sort());
    const keys = await listAll(admin, BUCKET, 'tempnames/');
    for (const n of names) expect(keys.has(`tempnames/${n}`), n).toBe(true);
    expect(keys.has('tempnames/_SUCCESS')).toBe(true);
    const ledger = new Ledger(dir).fromSolver(ledgerFile);
    expect(ledger.files.size).toBe(names.length);
    expect(await ledger.lost(admin, BUCKET, 'tempnames/')).toEqual([]);
    for (const n of names) expect(existsSync(join(dir, n)), `${n}: uploaded, verified, then wiped`).toBe(false);
  });
});

describe("ferry's own console redirected into the run directory", () => {
  it('`ferry run … > console.txt 2>&1`: ferry’s file, never uploaded, kept; the run completes', async () => {
    const dir = tempDir('console');
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`, '--output'];
    const line =
      `exec "$FERRY" ${args.join(' ')} s3://${BUCKET}/console/ --no-mpi -- ` +
      "sh -c 'echo r > result.txt' > console.txt 2>&1";
    const r = await execa('sh', ['-c', line], {
      cwd: dir,
      env: { ...cleanEnv(), FERRY },
      extendEnv: false,
      reject: false,
    });
    const console = readFileSync(join(dir, 'console.txt'), 'utf8');
    expect(r.exitCode, console).toBe(0);
    expect(console).toContain("ferry's own output goes to ./console.txt, inside the run directory");
    expect(console).not.toContain('still changed');
    const m = await manifest('console/');
    expect(m.status).toBe('complete');
    expect(m.kept).toEqual([{ path: 'console.txt', reason: expect.stringContaining("ferry's own output") }]);
    expect((await listAll(admin, BUCKET, 'console/')).has('console/console.txt')).toBe(false);
    expect((await getBytes(admin, BUCKET, 'console/result.txt')).toString()).toBe('r\n');
    expect(console).toContain('summary:'); // every line is there, on disk
    const ledger = new Ledger(dir);
    ledger.record('console.txt', console);
    ledger.record('result.txt', 'r\n');
    expect(await ledger.lost(admin, BUCKET, 'console/')).toEqual([]);
  });

  it('`ferry run … | tee console.txt` (another program writes the run dir): 73 naming file and cause', async () => {
    const dir = tempDir('tee');
    writeAwsConfig(dir, s3);
    const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/params.txt`, '--output'];
    const line = `"$FERRY" ${args.join(' ')} s3://${BUCKET}/tee/ --no-mpi -- true 2>&1 | tee console.txt`;
    const r = await execa('bash', ['-o', 'pipefail', '-c', line], {
      cwd: dir,
      env: { ...cleanEnv(), FERRY },
      extendEnv: false,
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(73);
    expect(r.all).toMatch(
      /still changed after 3 rounds of uploads: kept locally, the run is incomplete \(console\.txt\)/,
    );
    expect(r.all).toContain('a `tee` or another program logging into the run directory');
    expect(r.all).toMatch(/held open now: console\.txt \(held by pid \d+, tee\)/);
    expect((await manifest('tee/')).not_uploaded).toEqual([{ path: 'console.txt', error: expect.any(String) }]);
    const ledger = new Ledger(dir);
    ledger.record('console.txt', readFileSync(join(dir, 'console.txt')));
    ledger.record('params.txt', 'p=1\n'); // nothing deleted
    expect(await ledger.lost(admin, BUCKET, 'tee/')).toEqual([]);
  });
});

describe('a home or project folder as the run directory', () => {
  const title =
    './ferry run --aws-config config --vars vars.txt: only those two and ./ferry are deleted, each named; ' +
    'a file there before that the solver appended to is uploaded and kept';
  it(title, async () => {
    const dir = tempDir('home');
    const ledger = new Ledger(dir);
    ledger.write('notes.txt', 'my notes\n');
    ledger.write('sub/keep.dat', 'deep data\n');
    ledger.write('journal.txt', 'line 1, before ferry\n');
    ledger.write('vars.txt', `s3_input=s3://${BUCKET}/in/params.txt\ns3_output=s3://${BUCKET}/home/\n`);
    writeAwsConfig(dir, s3);
    const bin = installFerry(dir);
    const solver = [
      'sh',
      '-c',
      'echo "line 2, by the solver" >> journal.txt; mkdir -p res; cat params.txt > res/out.txt',
    ];
    const r = await ferry(['run', '--aws-config', 'config', '--vars', 'vars.txt', '--no-mpi', '--', ...solver], {
      cwd: dir,
      env: cleanEnv({ HOME: dir }),
      bin: join(dir, bin),
    });
    expect(r.exitCode, r.all).toBe(0);
    const journal = 'line 1, before ferry\nline 2, by the solver\n';
    ledger.record('journal.txt', journal);
    expect(readFileSync(join(dir, 'journal.txt'), 'utf8')).toBe(journal); // kept here
    expect((await getBytes(admin, BUCKET, 'home/journal.txt')).toString()).toBe(journal); // and uploaded
    for (const [f, what] of [
      ['config', '--aws-config'],
      ['vars.txt', '--vars'],
      ['ferry', 'ferry itself'],
    ]) {
      expect(existsSync(join(dir, f)), f).toBe(false);
      expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).toContain(`deleted ./${f} (${what})`);
      ledger.files.delete(f);
    }
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'journal.txt', 'notes.txt', 'sub']);
    const m = await manifest('home/');
    expect(Object.fromEntries(m.kept.map((k: { path: string; reason: string }) => [k.path, k.reason]))).toEqual({
      'journal.txt': 'was in the run directory before ferry started (the run changed it: uploaded, and kept here)',
      'notes.txt': 'was in the run directory before ferry started',
      'sub/keep.dat': 'was in the run directory before ferry started',
    });
    expect(await ledger.lost(admin, BUCKET, 'home/')).toEqual([]);
  });
});

describe('a disk that the solver fills', () => {
  const title = 'outputs uploaded, the manifest written from memory, _SUCCESS, no temp file left; doe status: complete';
  it.runIf(canMountTmpfs())(title, { tags: ['mount'] }, async () => {
    const dir = tempDir('full');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
    try {
      const ledgerFile = join(tempDir('full-ledger'), 'ledger.tsv');
      const script =
        `${REC} echo result > out.txt; rec out.txt; dd if=/dev/zero of=fill.bin bs=64k 2>/dev/null; rec fill.bin; ` +
        'df -k . | tail -1 > /dev/stderr; true';
      const { run } = runRow(s3, {
        dir,
        bucket: BUCKET,
        out: 'full',
        inputs: [`s3://${BUCKET}/in/params.txt`],
        solver: ['sh', '-c', script],
        env: { LEDGER: ledgerFile },
      });
      const r = await run;
      expect(r.exitCode, r.all).toBe(0);
      const m = await manifest('full/');
      expect(m.status).toBe('complete');
      expect((await listAll(admin, BUCKET, 'full/')).has('full/_SUCCESS')).toBe(true);
      expect(readdirSync(dir).filter((n) => n.includes('.ferry-') && n !== '.ferry-state.json')).toEqual([]);
      const ledger = new Ledger(dir).fromSolver(ledgerFile);
      expect(await ledger.lost(admin, BUCKET, 'full/')).toEqual([]);
      const csv = join(tempDir('full-csv'), 'inputs.csv');
      execFileSync('sh', [
        '-c',
        `printf 's3_input,s3_output\\ns3://${BUCKET}/in/params.txt,s3://${BUCKET}/full/\\n' > ${csv}`,
      ]);
      const cfg = writeAwsConfig(tempDir('full-cfg'), s3);
      const st = await ferry(['doe', 'status', csv, '--aws-config', cfg], { env: cleanEnv() });
      expect(st.exitCode, st.all).toBe(0);
      expect(st.stdout).toMatch(/complete/);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});
