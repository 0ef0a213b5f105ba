import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir } from '../helpers/ferry.ts';
import { Ledger } from '../helpers/ledger.ts';
import { canMountTmpfs } from '../helpers/mount.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';

// Where inputs land, checked as a whole before anything is downloaded: never over a file that was in
// the run directory before ferry started, never two inputs on one path, never more than the disk holds.
const BUCKET = 'ferry-i21-landing';
const s3 = inject('s3');
const admin = adminClient(s3);
const SOLVER = ['sh', '-c', 'ls -R > listing.txt'];
/**
 * What a run directory holds when ferry refused its inputs before downloading: its state and log; the
 * credentials file it was given (./config) is deleted when the run ends, whatever its status.
 */
const UNTOUCHED = ['.ferry-state.json', 'ferry.log'];

/** A zip of `files` (name → text), as Info-ZIP writes it. */
function zipOf(files: Record<string, string>): Buffer {
  const src = tempDir('landing-zip');
  const l = new Ledger(src);
  for (const [n, b] of Object.entries(files)) l.write(n, b);
  execFileSync('zip', ['-q', '-r', 'z.zip', ...Object.keys(files)], { cwd: src });
  return readFileSync(join(src, 'z.zip'));
}

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
});
afterAll(() => admin.destroy());

describe('an input that would land on a file that was in the run directory before ferry started', () => {
  it.each([
    ['a zip entry', 'zip', 'in-before/case.zip', "'mesh.dat' would overwrite ./mesh.dat"],
    ['an object of a prefix', 'prefix', 'in-before-p/', "'in-before-p/mesh.dat' would overwrite ./mesh.dat"],
  ])(
    '%s: refused with 64 before downloading, naming the file and the entry; the file keeps its bytes',
    async (_w, kind, input, says) => {
      const dir = tempDir(`before-${kind}`);
      const ledger = new Ledger(dir);
      ledger.write('mesh.dat', 'the user’s own mesh, there before ferry\n');
      if (kind === 'zip')
        await ledger.put(admin, BUCKET, input, zipOf({ 'mesh.dat': 'the input’s mesh\n', 'a.in': 'a\n' }));
      else {
        await ledger.put(admin, BUCKET, `${input}mesh.dat`, 'the input’s mesh\n');
        await ledger.put(admin, BUCKET, `${input}a.in`, 'a\n');
      }
      const { run } = runRow(s3, {
        dir,
        bucket: BUCKET,
        out: `out-before-${kind}`,
        inputs: [`s3://${BUCKET}/${input}`],
        solver: SOLVER,
      });
      const r = await run;
      expect(r.exitCode, r.all).toBe(64);
      expect(r.stderr).toContain(says);
      expect(r.stderr).toContain('which was in the run directory before ferry started');
      expect(readdirSync(dir).sort()).toEqual([...UNTOUCHED, 'mesh.dat']);
      expect(await ledger.lost(admin, BUCKET, `out-before-${kind}/`)).toEqual([]);
    },
  );

  it('a re-run in the same run directory replaces what the first attempt extracted (not refused)', async () => {
    const dir = tempDir('rerun');
    const ledger = new Ledger(dir);
    await ledger.put(admin, BUCKET, 'in-rerun/case.zip', zipOf({ 'case.in': 'case\n' }));
    const row = {
      dir,
      bucket: BUCKET,
      out: 'out-rerun',
      inputs: [`s3://${BUCKET}/in-rerun/case.zip`],
      solver: ['false'],
    };
    const first = await runRow(s3, { ...row, extra: ['--keep'] }).run;
    expect(first.exitCode, first.all).toBe(1); // solver-failed, kept: case.in stays for the re-run
    expect(existsSync(join(dir, 'case.in'))).toBe(true);
    const again = await runRow(s3, { ...row, solver: SOLVER }).run;
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toContain('holds an earlier attempt of this row');
    expect((await getBytes(admin, BUCKET, 'out-rerun/listing.txt')).toString()).toContain('case.in');
    expect(await ledger.lost(admin, BUCKET, 'out-rerun/')).toEqual([]);
  });
});

describe('two inputs landing on one path: 64 before downloading, naming both', () => {
  it('geom/case.zip and bc/case.zip with an entry of the same name', async () => {
    const dir = tempDir('two-zips');
    const ledger = new Ledger(dir);
    await ledger.put(admin, BUCKET, 'geom/case.zip', zipOf({ 'case.in': 'geometry\n', 'geom.dat': 'g\n' }));
    await ledger.put(admin, BUCKET, 'bc/case.zip', zipOf({ 'case.in': 'boundary\n', 'bc.dat': 'b\n' }));
    const inputs = [`s3://${BUCKET}/geom/case.zip`, `s3://${BUCKET}/bc/case.zip`];
    const r = await runRow(s3, { dir, bucket: BUCKET, out: 'out-two-zips', inputs, solver: SOLVER }).run;
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(`two inputs collide: ${inputs[0]} and ${inputs[1]} both land on ./case.in`);
    expect(readdirSync(dir).sort()).toEqual(UNTOUCHED);
    expect(await ledger.lost(admin, BUCKET, 'out-two-zips/')).toEqual([]);
  });

  it('two zips of the same name whose entries differ: both extracted, each whole', async () => {
    const dir = tempDir('two-zips-ok');
    const ledger = new Ledger(dir);
    const big = randomBytes(6 * 1024 * 1024).toString('base64'); // several parts each: the two downloads overlap
    await ledger.put(admin, BUCKET, 'geom2/case.zip', zipOf({ 'geom.dat': `g${big}` }));
    await ledger.put(admin, BUCKET, 'bc2/case.zip', zipOf({ 'bc.dat': `b${big}` }));
    const inputs = [`s3://${BUCKET}/geom2/case.zip`, `s3://${BUCKET}/bc2/case.zip`];
    const solver = ['sh', '-c', 'cat geom.dat bc.dat | sha256sum > sums.txt'];
    const r = await runRow(s3, {
      dir,
      bucket: BUCKET,
      out: 'out-two-ok',
      inputs,
      solver,
      extra: ['--part-size', '5MiB'],
    }).run;
    expect(r.exitCode, r.all).toBe(0);
    const want = execFileSync('sha256sum', { input: `g${big}b${big}` }).toString();
    expect((await getBytes(admin, BUCKET, 'out-two-ok/sums.txt')).toString()).toBe(want);
    expect(await ledger.lost(admin, BUCKET, 'out-two-ok/')).toEqual([]);
  });

  it('two prefixes holding the same file', async () => {
    const dir = tempDir('two-prefixes');
    const ledger = new Ledger(dir);
    await ledger.put(admin, BUCKET, 'p1/shared/params.txt', 'p=1\n');
    await ledger.put(admin, BUCKET, 'p2/shared/params.txt', 'p=2\n');
    const inputs = [`s3://${BUCKET}/p1/`, `s3://${BUCKET}/p2/`];
    const r = await runRow(s3, { dir, bucket: BUCKET, out: 'out-two-prefixes', inputs, solver: SOLVER }).run;
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(`two inputs collide: ${inputs[0]} and ${inputs[1]} both land on ./shared/params.txt`);
    expect(readdirSync(dir).sort()).toEqual(UNTOUCHED);
    expect(await ledger.lost(admin, BUCKET, 'out-two-prefixes/')).toEqual([]);
  });

  it('the same input twice', async () => {
    const dir = tempDir('twice');
    const ledger = new Ledger(dir);
    await ledger.put(admin, BUCKET, 'twice/params.txt', 'p=1\n');
    const input = `s3://${BUCKET}/twice/params.txt`;
    const r = await runRow(s3, { dir, bucket: BUCKET, out: 'out-twice', inputs: [input, input], solver: SOLVER }).run;
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(`two inputs collide: ${input} and ${input} both land on ./params.txt`);
    expect(r.stderr).toContain('the same input is given twice');
    expect(readdirSync(dir).sort()).toEqual(UNTOUCHED);
    expect(await ledger.lost(admin, BUCKET, 'out-twice/')).toEqual([]);
  });
});

describe('an input larger than the free disk space', () => {
  const title = 'a zip bigger than the free space: 74 naming what it needs and what is free (not "0 bytes")';
  it.runIf(canMountTmpfs())(title, { tags: ['mount'] }, async () => {
    const dir = tempDir('tiny-disk');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', dir]);
    try {
      const ledger = new Ledger(dir);
      const src = tempDir('big-zip');
      new Ledger(src).write('blob.bin', randomBytes(30 * 1024 * 1024));
      execFileSync('zip', ['-q', '-0', 'big.zip', 'blob.bin'], { cwd: src });
      await ledger.put(admin, BUCKET, 'in-big/big.zip', readFileSync(join(src, 'big.zip')));
      const r = await runRow(s3, {
        dir,
        bucket: BUCKET,
        out: 'out-big',
        inputs: [`s3://${BUCKET}/in-big/big.zip`],
        solver: SOLVER,
      }).run;
      expect(r.exitCode, r.all).toBe(74);
      expect(r.stderr).toContain('the input needs 60.0 MiB on disk (30.0 MiB downloaded, 30.0 MiB unpacked)');
      expect(r.stderr).toMatch(/more than the free disk space \((19\.\d|20\.0) MiB\)/);
      expect(r.stderr).not.toContain('(0 bytes)');
      expect(readdirSync(dir).sort()).toEqual(UNTOUCHED);
      expect(await ledger.lost(admin, BUCKET, 'out-big/')).toEqual([]);
      // the failure is recorded (a failed manifest and the log, issue 27 item 2); no output, no lease
      const keys = [...(await listAll(admin, BUCKET, 'out-big/')).keys()].sort();
      expect(keys).toEqual(['out-big/_ferry.log', 'out-big/_manifest.json']);
    } finally {
      execFileSync('umount', [dir]);
    }
  });
});
