import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, installFerry, tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { isWrite, startRecorder, type Recorded, type Recorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs } from '../helpers/solver.ts';

// The user's story: bucket my-simulation-data (with this checkout's tag) holds input/hsdi.zip and
// input/pintle.zip; the platform runs both DOE rows at once, each in its own directory on an 8-core
// slot, with ferry's command line, the rendered vars and the uploaded `config` (the only source of
// credentials).
const BUCKET = bucketFor('my-simulation-data');
const s3 = inject('s3');
const admin = adminClient(s3);

const CASES = {
  hsdi: { steps: 6, volumeKiB: 12288 },
  pintle: { steps: 4, volumeKiB: 0 },
} as const;

function platformEnv(row: { s3_input: string; s3_output: string }, home: string): Record<string, string> {
  return cleanEnv({
    PATH: `${inject('solverDir')}:${process.env.PATH}`,
    HOME: home,
    RESCALE_CORES_PER_SLOT: '8',
    s3_input: row.s3_input,
    s3_output: row.s3_output,
  });
}

describe('ferry run --aws-config config -- converge super (two DOE rows at once)', () => {
  const runs: Record<string, { dir: string; exitCode: number; all: string }> = {};
  let front: Recorder;

  beforeAll(async () => {
    // The hsdi row reaches the server through a front of ours that records every request it makes.
    front = await startRecorder(s3.endpoint);
    await ensureBucket(admin, BUCKET);
    await emptyPrefix(admin, BUCKET, '');
    const zips = tempDir('zips');
    for (const c of Object.keys(CASES)) await putBytes(admin, BUCKET, `input/${c}.zip`, readFileSync(zipCase(c, zips)));
    const csv = `s3_input,s3_output\n${Object.keys(CASES)
      .map((c) => `s3://${BUCKET}/input/${c}.zip,s3://${BUCKET}/output/${c}/`)
      .join('\n')}\n`;
    const rows = csv
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => ({ s3_input: l.split(',')[0], s3_output: l.split(',')[1] }));
    const home = tempDir('home');
    await Promise.all(
      rows.map(async (row, i) => {
        const name = Object.keys(CASES)[i];
        const dir = tempDir(`slot-${name}`);
        writeAwsConfig(dir, name === 'hsdi' ? { ...s3, endpoint: front.url } : s3);
        const bin = installFerry(dir);
        const r = await ferry(['run', '--aws-config', 'config', '--', 'converge', 'super'], {
          cwd: dir,
          env: platformEnv(row, home),
          bin,
        });
        runs[name] = { dir, exitCode: r.exitCode, all: r.all };
      }),
    );
    await front.close();
  });

  it('exits 0 for both rows', () => {
    expect(runs.hsdi.exitCode, runs.hsdi.all).toBe(0);
    expect(runs.pintle.exitCode, runs.pintle.all).toBe(0);
  });

  it("uploads exactly the solver outputs, byte for byte, under each row's prefix", async () => {
    for (const [name, c] of Object.entries(CASES)) {
      const expected = expectedOutputs(name, 8, c.steps, c.volumeKiB);
      const listed = await listAll(admin, BUCKET, `output/${name}/`);
      expect([...listed.keys()].sort()).toEqual(
        [...expected.keys(), '_SUCCESS', '_ferry.log', '_manifest.json'].map((k) => `output/${name}/${k}`).sort(),
      );
      for (const [rel, bytes] of expected) {
        const got = await getBytes(admin, BUCKET, `output/${name}/${rel}`);
        expect(got.equals(bytes), `${name}/${rel}`).toBe(true);
      }
    }
  });

  it('writes a complete manifest whose sha256 match the objects, and an empty _SUCCESS', async () => {
    const m = JSON.parse((await getBytes(admin, BUCKET, 'output/hsdi/_manifest.json')).toString());
    expect(m.status).toBe('complete');
    expect(m.ferry).toMatch(/^ferry \d+\.\d+\.\d+ /);
    expect(m.inputs).toEqual([expect.objectContaining({ uri: `s3://${BUCKET}/input/hsdi.zip` })]);
    expect(m.solver).toMatchObject({ exit_code: 0, signal: null });
    expect(m.solver.argv).toEqual(expect.arrayContaining(['mpirun', '-np', '8', 'converge', 'super']));
    const expected = expectedOutputs('hsdi', 8, CASES.hsdi.steps, CASES.hsdi.volumeKiB);
    expect(m.outputs.map((o: { path: string }) => o.path)).toEqual([...expected.keys()].sort());
    for (const o of m.outputs) expect(o.sha256).toBe(createHash('sha256').update(expected.get(o.path)!).digest('hex'));
    expect((await getBytes(admin, BUCKET, 'output/hsdi/_SUCCESS')).length).toBe(0);
  });

  it('uploads no input file, no config, and the log only as _ferry.log', async () => {
    const all = [...(await listAll(admin, BUCKET, 'output/')).keys()];
    expect(
      all.filter((k) => /inputs\.in|surface\.dat|species\.dat|boundary\.in|spray\.in|config|ferry\.log/.test(k)),
    ).toEqual(['output/hsdi/_ferry.log', 'output/pintle/_ferry.log']);
  });

  it('writes the outputs, the manifest, _ferry.log, then _SUCCESS, each answered before the next is sent', () => {
    const prefix = `/${BUCKET}/output/hsdi/`;
    const writes = front.requests.filter((q) => isWrite(q) && q.path.startsWith(prefix));
    const key = (q: Recorded) => q.path.split('?')[0].slice(prefix.length);
    const one = (name: string) => {
      const w = writes.filter((q) => key(q) === name);
      expect(
        w.map((q) => [q.method, q.status]),
        name,
      ).toEqual([['PUT', 200]]);
      return w[0];
    };
    const [manifest, log, success] = [one('_manifest.json'), one('_ferry.log'), one('_SUCCESS')];
    const own = new Set(['_manifest.json', '_ferry.log', '_SUCCESS', '_ferry.lease']);
    // The journal records each verified upload while the row runs (gone once _SUCCESS is written).
    const outputs = writes.filter((q) => !own.has(key(q)) && !key(q).startsWith('_ferry.journal/'));
    expect(new Set(outputs.map(key))).toEqual(new Set(expectedOutputs('hsdi', 8, 6, 12288).keys()));
    for (const q of outputs) expect(q.answered! < manifest.seq, `${q.method} ${key(q)} before the manifest`).toBe(true);
    expect(manifest.answered!).toBeLessThan(log.seq);
    expect(log.answered!).toBeLessThan(success.seq);
    // _SUCCESS is the last object written: after it only the lease is taken away.
    const after = writes.filter((q) => q.seq > success.seq);
    expect(after.map((q) => `${q.method} ${key(q)}`)).toEqual(['DELETE _ferry.lease']);
  });

  it('the uploaded _ferry.log is the local log up to the line that uploads it; _SUCCESS, the wipe follow', async () => {
    const local = readFileSync(join(runs.hsdi.dir, 'ferry.log'), 'utf8');
    const uploaded = (await getBytes(admin, BUCKET, 'output/hsdi/_ferry.log')).toString();
    const untimed = (l: string) => l.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /, '');
    const lines = uploaded.trimEnd().split('\n').map(untimed);
    expect(lines[0]).toMatch(/^ferry: ferry \d+\.\d+\.\d+ \(/);
    expect(uploaded).toContain('Cycle 6 of 6');
    expect(lines.at(-2)).toBe(`ferry: wrote s3://${BUCKET}/output/hsdi/_manifest.json (status complete)`);
    expect(lines.at(-1)).toMatch(new RegExp(`^ferry: uploading this log to s3://${BUCKET}/output/hsdi/_ferry\\.log `));
    // The copy is the local log as it was then; _SUCCESS, the wipe and the summary come after it.
    expect(local.startsWith(uploaded)).toBe(true);
    const after = local.slice(uploaded.length);
    const up = `s3://${BUCKET}/output/hsdi/`;
    expect(after.split('\n').slice(0, 2).map(untimed)).toEqual([
      `ferry:   uploaded ferry.log (${Buffer.byteLength(uploaded)} bytes) to ${up}_ferry.log, verified`,
      `ferry: wrote ${up}_SUCCESS: the prefix is complete`,
    ]);
    expect(after).toContain('removed');
    expect(after).toContain('summary: ');
  });

  it('leaves only ferry.log in each run directory (the copy of ferry and config are gone too)', () => {
    expect(readdirSync(runs.hsdi.dir)).toEqual(['ferry.log']);
    expect(readdirSync(runs.pintle.dir)).toEqual(['ferry.log']);
  });

  it("streams the solver's progress lines into ferry's output and the run log", () => {
    expect(runs.hsdi.all).toContain('Cycle 6 of 6');
    expect(runs.pintle.all).toContain('Cycle 4 of 4');
    const log = readFileSync(join(runs.hsdi.dir, 'ferry.log'), 'utf8');
    expect(log).toMatch(/^\S+Z ferry: ferry \d+\.\d+\.\d+ \(/);
    expect(log).toContain('Cycle 6 of 6');
    expect(log).toContain('-np 8');
  });
});

describe('solver failures and bad runs', () => {
  beforeAll(async () => {
    await ensureBucket(admin, BUCKET);
    const zips = tempDir('zips');
    await putBytes(admin, BUCKET, 'input/pintle.zip', readFileSync(zipCase('pintle', zips)));
  });
  const home = tempDir('home');

  it('a solver that exits 3: ferry exits 3 and the outputs are still uploaded', async () => {
    await emptyPrefix(admin, BUCKET, 'output/failing/');
    const dir = tempDir('slot-fail');
    writeAwsConfig(dir, s3);
    const env = platformEnv(
      { s3_input: `s3://${BUCKET}/input/pintle.zip`, s3_output: `s3://${BUCKET}/output/failing/` },
      home,
    );
    const r = await ferry(['run', '--aws-config', 'config', '--', 'converge', 'super', '--exit', '3'], {
      cwd: dir,
      env,
    });
    expect(r.exitCode, r.all).toBe(3);
    const expected = expectedOutputs('pintle', 8, 4, 0);
    const listed = await listAll(admin, BUCKET, 'output/failing/');
    expect(listed.has('output/failing/_SUCCESS')).toBe(false);
    const keys = [...expected.keys(), '_ferry.log', '_manifest.json'].map((k) => `output/failing/${k}`);
    // An incomplete row keeps its journal (what a later attempt carries on from): ferry's own objects.
    const journal = (k: string) => k.startsWith('output/failing/_ferry.journal/');
    expect([...listed.keys()].filter((k) => !journal(k)).sort()).toEqual(keys.sort());
    for (const [rel, bytes] of expected) {
      expect((await getBytes(admin, BUCKET, `output/failing/${rel}`)).equals(bytes), rel).toBe(true);
    }
    const m = JSON.parse((await getBytes(admin, BUCKET, 'output/failing/_manifest.json')).toString());
    expect(m).toMatchObject({ status: 'solver-failed', solver: { exit_code: 3 } });
  });

  it('reads s3_input / s3_output from a rendered --vars file', async () => {
    await emptyPrefix(admin, BUCKET, 'output/vars/');
    const dir = tempDir('slot-vars');
    writeAwsConfig(dir, s3);
    writeFileSync(
      join(dir, 'vars.txt'),
      `# rendered by the platform\ns3_input="s3://${BUCKET}/input/pintle.zip"\ns3_output = ` +
        `s3://${BUCKET}/output/vars/\n`,
    );
    const r = await ferry(
      ['run', '--vars', 'vars.txt', '--aws-config', 'config', '--np', '2', '--', 'converge', 'super'],
      { cwd: dir, env: platformEnv({ s3_input: '', s3_output: '' }, home) },
    );
    expect(r.exitCode, r.all).toBe(0);
    const listed = await listAll(admin, BUCKET, 'output/vars/');
    expect([...listed.keys()].sort()).toEqual([
      'output/vars/_SUCCESS',
      'output/vars/_ferry.log',
      'output/vars/_manifest.json',
      'output/vars/output/rank_0.out',
      'output/vars/output/rank_1.out',
      'output/vars/output/summary.out',
    ]);
  });

  it("a solver that writes ./_ferry.log: ferry's own log takes that key, the file stays, named in kept", async () => {
    await emptyPrefix(admin, BUCKET, 'output/own-log/');
    const dir = tempDir('slot-own-log');
    writeAwsConfig(dir, s3);
    const env = platformEnv(
      { s3_input: `s3://${BUCKET}/input/pintle.zip`, s3_output: `s3://${BUCKET}/output/own-log/` },
      home,
    );
    const solver = ['sh', '-c', 'echo SOLVER-LOG > _ferry.log; cat inputs.in > result.txt'];
    const r = await ferry(['run', '--aws-config', 'config', '--no-mpi', '--', ...solver], { cwd: dir, env });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toContain('not uploading ./_ferry.log');
    const log = (await getBytes(admin, BUCKET, 'output/own-log/_ferry.log')).toString();
    expect(log).toMatch(/^\S+Z ferry: ferry /);
    expect(log.split('\n')).not.toContain('SOLVER-LOG'); // the solver's file is not what went up
    expect(readFileSync(join(dir, '_ferry.log'), 'utf8')).toBe('SOLVER-LOG\n');
    const m = JSON.parse((await getBytes(admin, BUCKET, 'output/own-log/_manifest.json')).toString());
    expect(m.outputs.map((o: { path: string }) => o.path)).toEqual(['result.txt']);
    expect(m.kept).toEqual([
      { path: '_ferry.log', reason: "its name is reserved for ferry's own object in the output prefix" },
    ]);
  });

  it('missing s3_output: exit 64 naming both the flag and the variable, nothing downloaded', async () => {
    const dir = tempDir('slot-noout');
    writeAwsConfig(dir, s3);
    const env = platformEnv({ s3_input: `s3://${BUCKET}/input/pintle.zip`, s3_output: '' }, home);
    const r = await ferry(['run', '--aws-config', 'config', '--', 'converge', 'super'], { cwd: dir, env });
    expect(r.exitCode).toBe(64);
    expect(r.stderr).toContain('--output');
    expect(r.stderr).toContain('s3_output');
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('input key missing: exit 66 naming the key', async () => {
    const dir = tempDir('slot-nokey');
    writeAwsConfig(dir, s3);
    const env = platformEnv(
      { s3_input: `s3://${BUCKET}/input/nope.zip`, s3_output: `s3://${BUCKET}/output/nope/` },
      home,
    );
    const r = await ferry(['run', '--aws-config', 'config', '--', 'converge', 'super'], { cwd: dir, env });
    expect(r.exitCode, r.all).toBe(66);
    expect(r.stderr).toContain(`s3://${BUCKET}/input/nope.zip`);
  });

  it('wrong secret key: exit 77, the secret is not printed, nothing deleted but the credentials file', async () => {
    const dir = tempDir('slot-badkey');
    writeAwsConfig(dir, s3, { accessKey: s3.accessKey, secretKey: 'wrong-secret-DO-NOT-PRINT' });
    const env = platformEnv(
      { s3_input: `s3://${BUCKET}/input/pintle.zip`, s3_output: `s3://${BUCKET}/output/badkey/` },
      home,
    );
    const r = await ferry(['run', '--aws-config', 'config', '--', 'converge', 'super'], { cwd: dir, env });
    expect(r.exitCode, r.all).toBe(77);
    expect(r.stderr).toMatch(/secret key is wrong|access denied/);
    expect(r.all).not.toContain('wrong-secret-DO-NOT-PRINT');
    // ./config holds the (wrong) secret: it goes when the run ends, whatever its status
    expect(r.stderr).toContain('deleted ./config (--aws-config): it holds a secret');
    expect(readdirSync(dir).sort()).toEqual(['.ferry-state.json', 'ferry.log']);
  });

  it('--upload-all mirrors the run directory but never uploads config, ferry.log or ferry itself', async () => {
    await emptyPrefix(admin, BUCKET, 'output/all/');
    const dir = tempDir('slot-all');
    writeAwsConfig(dir, s3);
    const env = platformEnv(
      { s3_input: `s3://${BUCKET}/input/pintle.zip`, s3_output: `s3://${BUCKET}/output/all/` },
      home,
    );
    const bin = installFerry(dir);
    const r = await ferry(
      ['run', '--aws-config', 'config', '--upload-all', '--keep', '--np', '1', '--', 'converge', 'super'],
      { cwd: dir, env, bin },
    );
    expect(r.exitCode, r.all).toBe(0);
    const keys = [...(await listAll(admin, BUCKET, 'output/all/')).keys()]
      .map((k) => k.slice('output/all/'.length))
      .sort();
    expect(keys).toEqual([
      '_SUCCESS',
      '_ferry.log',
      '_manifest.json',
      'inputs.in',
      'output/rank_0.out',
      'output/summary.out',
      'spray.in',
      'surface.dat',
    ]);
    expect(readdirSync(dir).sort()).toEqual([
      '.ferry-state.json',
      'config',
      'ferry',
      'ferry.log',
      'inputs.in',
      'output',
      'spray.in',
      'surface.dat',
    ]);
  });

  afterAll(() => admin.destroy());
});
