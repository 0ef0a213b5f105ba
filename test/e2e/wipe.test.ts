import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { canMountTmpfs } from '../helpers/mount.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// The wipe deletes exactly what ferry accounts for: a run dir that held unrelated files (a home or
// project folder) keeps them, byte for byte; --wipe-all empties it but refuses / , a home directory
// and a mount point.
const BUCKET = bucketFor('ferry-wipe');
const s3 = inject('s3');
const admin = adminClient(s3);
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const SOLVER = ['sh', '-c', 'mkdir -p res && cat inputs.in > res/out.txt && echo changed >> spray.in'];

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
});
afterAll(() => admin.destroy());

/** A folder as a user's project folder looks: files and folders that have nothing to do with the run. */
function projectFolder(): { dir: string; unrelated: Map<string, string> } {
  const dir = tempDir('project');
  mkdirSync(join(dir, 'notes'));
  mkdirSync(join(dir, 'a/b'), { recursive: true });
  mkdirSync(join(dir, 'emptydir'));
  writeFileSync(join(dir, 'notes/project.txt'), 'my notes\n');
  writeFileSync(join(dir, 'a/b/c.txt'), 'deep\n');
  writeFileSync(join(dir, 'data.bin'), createHash('sha512').update('x').digest());
  writeAwsConfig(dir, s3);
  const unrelated = new Map(['notes/project.txt', 'a/b/c.txt', 'data.bin'].map((f) => [f, sha(join(dir, f))]));
  return { dir, unrelated };
}

const args = (out: string, extra: string[] = []) => [
  'run',
  '--aws-config',
  'config',
  ...extra,
  '--input',
  `s3://${BUCKET}/in/pintle.zip`,
  '--output',
  `s3://${BUCKET}/${out}/`,
  '--no-mpi',
  '--',
  ...SOLVER,
];

describe('ferry run in a folder that holds unrelated files', () => {
  it(
    'uploads the outputs, deletes what it accounts for, keeps every unrelated file and lists it in the ' + 'manifest',
    async () => {
      const { dir, unrelated } = projectFolder();
      const r = await ferry(args('project'), { cwd: dir, env: cleanEnv() });
      expect(r.exitCode, r.all).toBe(0);
      for (const [f, hash] of unrelated) expect(sha(join(dir, f)), f).toBe(hash);
      expect(statSync(join(dir, 'emptydir')).isDirectory()).toBe(true);
      // Accounted for and gone: the extracted inputs, the outputs (one was an input the solver changed), config.
      for (const f of ['inputs.in', 'surface.dat', 'spray.in', 'res', 'config', '.ferry-state.json', '.ferry-lock'])
        expect(existsSync(join(dir, f)), f).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(['a', 'data.bin', 'emptydir', 'ferry.log', 'notes']);
      expect((await getBytes(admin, BUCKET, 'project/spray.in')).toString()).toMatch(/changed\n$/);
      expect([...(await listAll(admin, BUCKET, 'project/')).keys()].sort()).toEqual([
        'project/_SUCCESS',
        'project/_ferry.log',
        'project/_manifest.json',
        'project/res/out.txt',
        'project/spray.in',
      ]);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'project/_manifest.json')).toString());
      expect(m.kept.map((k: { path: string }) => k.path).sort()).toEqual([
        'a/b/c.txt',
        'data.bin',
        'notes/project.txt',
      ]);
      for (const k of m.kept) expect(k.reason).toContain('before ferry started');
      // ETags in one form in both arrays: bare hex (MD5, or MD5 of the part MD5s and the part count).
      for (const e of [...m.inputs, ...m.outputs].map((x: { etag: string }) => x.etag))
        expect(e).toMatch(/^[0-9a-f]{32}(-\d+)?$/);
      expect(m.inputs).toHaveLength(1);
      expect(r.stderr).toContain('3 file(s) stay in the run directory');
    },
  );

  it('--wipe-all empties the run directory after verification (except ferry.log)', async () => {
    const { dir } = projectFolder();
    const r = await ferry(args('wipe-all', ['--wipe-all']), { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(0);
    expect(readdirSync(dir)).toEqual(['ferry.log']);
    const m = JSON.parse((await getBytes(admin, BUCKET, 'wipe-all/_manifest.json')).toString());
    expect(m.kept).toEqual([]);
  });

  it('a run dir that is the home directory: the accounted wipe is safe there', async () => {
    const { dir, unrelated } = projectFolder();
    const r = await ferry(args('home'), { cwd: dir, env: cleanEnv({ HOME: dir }) });
    expect(r.exitCode, r.all).toBe(0);
    for (const [f, hash] of unrelated) expect(sha(join(dir, f)), f).toBe(hash);
  });
});

describe('run directories ferry refuses (exit 64, nothing touched)', () => {
  it('--workdir / (or any path resolving to it)', async () => {
    const dir = tempDir('root');
    writeAwsConfig(dir, s3);
    for (const w of ['/', '/tmp/..']) {
      // Harmless even if the check ever broke: the input does not exist, so no run could get as far
      // as a wipe (a ferry without the check would fail with 66 after writing /ferry.log).
      const run = [
        'run',
        '--aws-config',
        'config',
        '--workdir',
        w,
        '--input',
        `s3://${BUCKET}/in/no-such.zip`,
        '--output',
        `s3://${BUCKET}/root/`,
        '--no-mpi',
        '--',
        'true',
      ];
      const r = await ferry(run, { cwd: dir, env: cleanEnv() });
      expect(r.exitCode, r.all).toBe(64);
      expect(r.stderr).toContain('resolves to /');
    }
    expect(existsSync('/ferry.log')).toBe(false);
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('--wipe-all in the home directory', async () => {
    const { dir, unrelated } = projectFolder();
    const r = await ferry(args('home-all', ['--wipe-all']), { cwd: dir, env: cleanEnv({ HOME: dir }) });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain('--wipe-all would empty the home directory');
    for (const [f, hash] of unrelated) expect(sha(join(dir, f)), f).toBe(hash);
    expect(existsSync(join(dir, 'ferry.log'))).toBe(false);
  });

  it.runIf(canMountTmpfs())(
    '--wipe-all at the root of a mounted file system (tmpfs)',
    { tags: ['mount'] },
    async () => {
      const mnt = tempDir('mnt');
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
      try {
        writeAwsConfig(mnt, s3);
        writeFileSync(join(mnt, 'keep.txt'), 'keep');
        const r = await ferry(args('mount', ['--wipe-all']), { cwd: mnt, env: cleanEnv() });
        expect(r.exitCode, r.all).toBe(64);
        expect(r.stderr).toContain('root of a mounted file system');
        expect(readdirSync(mnt).sort()).toEqual(['config', 'keep.txt']);
      } finally {
        execFileSync('umount', [mnt]);
      }
    },
  );
});
