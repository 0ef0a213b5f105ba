// The credential files ferry was given (--aws-config, --azure-config, --proxy-auth-file) go when a run
// that held the run directory ends, whatever its status, on the platform or not: only those at the top
// of the run directory, never one in a subfolder or outside it, never any other file; --keep keeps them.
// A run refused before it owns the run directory (a usage error, another ferry there) deletes nothing.
// The re-run in place that then finds no ./config is told why, and what to do.
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { Ledger } from '../helpers/ledger.ts';
import { waitFor } from '../helpers/net.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes } from '../helpers/s3.ts';

const s3 = inject('s3');
const admin = adminClient(s3);
const BUCKET = bucketFor('ferry-cred-files');
const SOLVER = ['sh', '-c', 'cat p.txt > out.txt'];
const DELETED =
  'it holds a secret, and a run directory is archived or reused; keep your copy elsewhere (--keep keeps it)';

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
});
afterAll(() => admin.destroy());

/** A run directory with the job's credential files at its top, and files of the user's own (in the ledger). */
function runDir(name: string): { dir: string; ledger: Ledger } {
  const dir = tempDir(name);
  const ledger = new Ledger(dir);
  writeAwsConfig(dir, s3);
  ledger.write('proxy-auth', 'alice:proxy-password\n');
  chmodSync(join(dir, 'proxy-auth'), 0o600);
  ledger.write('vars.txt', `s3_input=s3://${BUCKET}/in/${name}/p.txt\ns3_output=s3://${BUCKET}/out/${name}/\n`);
  ledger.write('mesh.dat', 'the user’s own mesh, there before ferry\n');
  ledger.write('job/notes.txt', 'in a subfolder\n');
  ledger.files.delete('proxy-auth'); // the test expects it gone: not in the ledger of what must stay
  ledger.secrets.push('proxy-password'); // never uploaded
  return { dir, ledger };
}

const args = (...flags: string[]) => [
  'run',
  '--aws-config',
  'config',
  '--proxy-auth-file',
  'proxy-auth',
  '--vars',
  'vars.txt',
  '--no-mpi',
  ...flags,
  '--',
  ...SOLVER,
];

describe('the credential files ferry was given go when the run ends, whatever its status', () => {
  it('a failed run off the platform (66): ./config and ./proxy-auth go, every other file stays', async () => {
    const { dir, ledger } = runDir('failed66');
    const r = await ferry(args(), { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain(`deleted ./config (--aws-config): ${DELETED}`);
    expect(r.stderr).toContain(`deleted ./proxy-auth (--proxy-auth-file): ${DELETED}`);
    expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'ferry.log', 'job', 'mesh.dat', 'vars.txt']);
    expect(await ledger.lost(admin, BUCKET, 'out/failed66/')).toEqual([]);

    // The re-run in place finds no ./config: 64, saying why and what to do; it deletes nothing.
    const again = await ferry(args(), { cwd: dir, env: cleanEnv() });
    expect(again.exitCode, again.all).toBe(64);
    expect(again.stderr).toContain(`--aws-config file not found: ${join(dir, 'config')}`);
    expect(again.stderr).toContain('for a re-run in place, copy it in again (ferry run deletes the credential files');
    expect(again.stderr).toContain('or keep it in a subfolder: --aws-config job/config');
    expect(await ledger.lost(admin, BUCKET, 'out/failed66/')).toEqual([]);

    // Copied in again (as the user would), with the input now there, the row completes.
    writeAwsConfig(dir, s3);
    ledger.write('proxy-auth', 'alice:proxy-password\n');
    chmodSync(join(dir, 'proxy-auth'), 0o600);
    ledger.files.delete('proxy-auth');
    await ledger.put(admin, BUCKET, 'in/failed66/p.txt', 'p=1\n');
    const ok = await ferry(args(), { cwd: dir, env: cleanEnv() });
    expect(ok.exitCode, ok.all).toBe(0);
    expect((await getBytes(admin, BUCKET, 'out/failed66/out.txt')).toString()).toBe('p=1\n');
    expect(existsSync(join(dir, 'config'))).toBe(false);
    ledger.files.delete('vars.txt'); // a job input at the top: the complete run's wipe deletes it (README)
    expect(await ledger.lost(admin, BUCKET, 'out/failed66/')).toEqual([]);
  });

  it('a run whose solver is not found (64) deletes them too', async () => {
    const { dir, ledger } = runDir('nosolver');
    await ledger.put(admin, BUCKET, 'in/nosolver/p.txt', 'p=1\n');
    const flags = ['run', '--aws-config', 'config', '--proxy-auth-file', 'proxy-auth', '--vars', 'vars.txt'];
    const r = await ferry([...flags, '--no-mpi', '--', 'no-such-solver-xyz'], { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(64);
    expect(r.stderr).toContain(`deleted ./config (--aws-config): ${DELETED}`);
    const left = ['.ferry-state.json', 'ferry.log', 'job', 'mesh.dat', 'p.txt', 'vars.txt']; // p.txt: the input
    expect(readdirSync(dir).sort()).toEqual(left);
    expect(await ledger.lost(admin, BUCKET, 'out/nosolver/')).toEqual([]);
  });

  it('--keep keeps them on a failed run', async () => {
    const { dir, ledger } = runDir('keep');
    ledger.record('proxy-auth', 'alice:proxy-password\n');
    const r = await ferry(args('--keep'), { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).not.toContain('deleted ./');
    expect(existsSync(join(dir, 'config'))).toBe(true);
    expect(await ledger.lost(admin, BUCKET, 'out/keep/')).toEqual([]);
  });

  it('a config outside the run directory (an absolute path) and one in a subfolder stay', async () => {
    const dir = tempDir('elsewhere');
    const ledger = new Ledger(dir);
    const home = tempDir('elsewhere-home');
    const outside = writeAwsConfig(home, s3);
    mkdirSync(join(dir, 'job'));
    ledger.write('job/proxy-auth', 'alice:proxy-password\n');
    chmodSync(join(dir, 'job/proxy-auth'), 0o600);
    ledger.write('mesh.dat', 'the user’s own mesh\n');
    const flags = ['--aws-config', outside, '--proxy-auth-file', 'job/proxy-auth'];
    flags.push('--input', `s3://${BUCKET}/in/elsewhere/p.txt`, '--output', `s3://${BUCKET}/out/elsewhere/`);
    const r = await ferry(['run', ...flags, '--no-mpi', '--', ...SOLVER], { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).not.toContain('deleted ');
    expect(existsSync(outside)).toBe(true);
    expect(await ledger.lost(admin, BUCKET, 'out/elsewhere/')).toEqual([]);
  });

  it('a run refused before it owns the run directory (a bad flag, 64) deletes nothing', async () => {
    const { dir, ledger } = runDir('badflag');
    ledger.record('proxy-auth', 'alice:proxy-password\n');
    const r = await ferry(args('--np', '2.5'), { cwd: dir, env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(64);
    expect(readdirSync(dir).sort()).toEqual(['config', 'job', 'mesh.dat', 'proxy-auth', 'vars.txt']);
    expect(await ledger.lost(admin, BUCKET, 'out/badflag/')).toEqual([]);
  });

  it('a second ferry on a run directory another run holds (75) deletes nothing; the first completes', async () => {
    const { dir, ledger } = runDir('held');
    ledger.record('proxy-auth', 'alice:proxy-password\n');
    await ledger.put(admin, BUCKET, 'in/held/p.txt', 'p=1\n');
    const hold = join(tempDir('held-gate'), 'hold'); // outside the run directory: not an output
    writeFileSync(hold, '');
    const waits = ['sh', '-c', `while [ -e ${hold} ]; do sleep 0.1; done; cat p.txt > out.txt`];
    const flags = ['run', '--aws-config', 'config', '--proxy-auth-file', 'proxy-auth', '--vars', 'vars.txt'];
    const first = startFerry([...flags, '--no-mpi', '--', ...waits], { cwd: dir, env: cleanEnv() });
    await waitFor('the first run to launch its solver', () => first.output().includes('launching'), {
      alive: first.running,
    });
    const second = await ferry(args(), { cwd: dir, env: cleanEnv() });
    expect(second.exitCode, second.all).toBe(75);
    expect(second.stderr).not.toContain('deleted ./');
    expect(existsSync(join(dir, 'config')), 'the first run’s config').toBe(true);
    expect(existsSync(join(dir, 'proxy-auth'))).toBe(true);
    rmSync(hold);
    const r = await first.result;
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, 'out/held/out.txt')).toString()).toBe('p=1\n');
    expect(existsSync(join(dir, 'config'))).toBe(false); // the run that held it: gone at its end
    ledger.files.delete('vars.txt'); // a job input at the top: the complete run's wipe deletes it (README)
    ledger.files.delete('proxy-auth');
    expect(await ledger.lost(admin, BUCKET, 'out/held/')).toEqual([]);
  });
});

describe('on the platform (RESCALE_JOB_ID) the same', () => {
  it('a failed run (66) deletes ./config and ./proxy-auth and nothing else', async () => {
    const { dir, ledger } = runDir('platform');
    const r = await ferry(args(), { cwd: dir, env: cleanEnv({ RESCALE_JOB_ID: 'aBcD1' }) });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain(`deleted ./config (--aws-config): ${DELETED}`);
    expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'ferry.log', 'job', 'mesh.dat', 'vars.txt']);
    expect(await ledger.lost(admin, BUCKET, 'out/platform/')).toEqual([]);
  });
});
