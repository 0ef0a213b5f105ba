import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, FERRY, IS_BUILT, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { adminClient, bucketFor, ensureBucket, putBytes } from '../helpers/s3.ts';

// The single-file build as a compute node runs it: no Node on PATH, maybe no HOME, any cwd,
// whatever NODE_OPTIONS the user has. Runs when FERRY_BIN points at the build (.ci/run does).
const s3 = inject('s3');
const admin = adminClient(s3);
const BUCKET = bucketFor('ferry-binary');
const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')) as { version: string };

/** esbuild's metafile (scripts/build writes it next to the bundle): every module and how it is imported. */
interface Metafile {
  inputs: Record<string, { imports: Array<{ path: string; kind: string; external?: boolean }> }>;
  outputs: Record<string, { bytes: number }>;
}

describe.runIf(IS_BUILT)(`the built binary (${FERRY})`, { tags: ['built'] }, () => {
  let node: string;
  beforeAll(async () => {
    await ensureBucket(admin, BUCKET);
    await putBytes(admin, BUCKET, 'in/mesh.dat', 'mesh bytes\n');
    // A copy in a directory of its own, readable by anyone (the no-passwd user below runs it).
    node = join(tempDir('bin'), 'ferry');
    copyFileSync(FERRY, node);
    chmodSync(join(node, '..'), 0o755);
    chmodSync(node, 0o755);
  });
  afterAll(() => admin.destroy());

  it('env -i ferry --version prints "ferry <version> (<commit>, node <version>)"', async () => {
    const r = await execa('env', ['-i', node, '--version'], { cwd: '/', reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(`^ferry ${pkg.version.replace(/\./g, '\\.')} \\([0-9a-f]{12}(-dirty)?, node 24\\.\\d+\\.\\d+\\)$`),
    );
  });

  it("ignores the user's NODE_OPTIONS (a --require of a missing file would stop plain node)", async () => {
    const r = await execa('env', ['-i', 'NODE_OPTIONS=--require /nonexistent/hook.js', node, '--version'], {
      reject: false,
    });
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it('env -i, empty PATH, no HOME: ferry get s3://…/in/mesh.dat DIR', async () => {
    const dir = tempDir('envi');
    writeAwsConfig(dir, s3);
    const r = await execa(
      'env',
      ['-i', 'PATH=', node, 'get', '--aws-config', 'config', `s3://${BUCKET}/in/mesh.dat`, 'out'],
      { cwd: dir, reject: false, all: true },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(readFileSync(join(dir, 'out/mesh.dat'), 'utf8')).toBe('mesh bytes\n');
  });

  const nopasswd = 'as a user with no passwd entry and no HOME (the SDK would crash on homedir)';
  it.runIf(process.getuid?.() === 0)(nopasswd, { tags: ['root'] }, async () => {
    const dir = tempDir('nopasswd');
    chmodSync(dir, 0o777);
    const keys = `AWS_ACCESS_KEY_ID=${s3.accessKey}`;
    const r = await execa(
      'setpriv',
      [
        '--reuid=4242',
        '--regid=4242',
        '--clear-groups',
        'env',
        '-i',
        'PATH=',
        keys,
        `AWS_SECRET_ACCESS_KEY=${s3.secretKey}`,
        `AWS_ENDPOINT_URL=${s3.endpoint}`,
        node,
        'get',
        `s3://${BUCKET}/in/mesh.dat`,
        'out',
      ],
      { cwd: dir, reject: false, all: true },
    );
    expect(r.exitCode, r.all).toBe(0);
    expect(readdirSync(join(dir, 'out'))).toEqual(['mesh.dat']);
  });

  it('keeps the lazy boundaries: from agent/cli.ts only import() reaches the S3 and Azure SDKs, execa, p-limit', () => {
    // In a one-file CommonJS bundle a module reached from the entry by import statements or require
    // calls runs at start-up; one reached only through import() runs when a command loads it.
    const bundle = readFileSync(join(ROOT, '.build/sea/ferry.cjs'));
    const meta = JSON.parse(readFileSync(join(ROOT, '.build/sea/ferry.meta.json'), 'utf8')) as Metafile;
    // The metafile describes this bundle, and this bundle is what the binary under test runs.
    expect(meta.outputs['.build/sea/ferry.cjs'].bytes).toBe(bundle.length);
    expect(readFileSync(node).indexOf(bundle)).toBeGreaterThan(0);
    const eager = new Set<string>();
    const todo = ['agent/cli.ts'];
    for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
      if (eager.has(p)) continue;
      eager.add(p);
      for (const i of meta.inputs[p].imports) if (i.kind !== 'dynamic-import' && !i.external) todo.push(i.path);
    }
    const heavy = (p: string) => /node_modules\/(@aws-sdk|@smithy|@azure|execa|p-limit)\//.test(p);
    expect(eager.has('agent/help.ts')).toBe(true);
    expect([...eager].filter(heavy)).toEqual([]);
    // They are in the bundle all the same, behind import().
    for (const m of ['@aws-sdk/client-s3', '@azure/storage-blob', '@azure/identity', 'execa', 'p-limit']) {
      expect(
        Object.keys(meta.inputs).some((p) => p.includes(`node_modules/${m}/`)),
        m,
      ).toBe(true);
    }
  });

  it('the sha256 file next to each executable matches it (sha256sum -c), x64 among them', () => {
    const dist = join(FERRY, '..');
    const sums = readdirSync(dist).filter((f) => f.endsWith('.sha256'));
    expect(sums).toContain(`ferry-${pkg.version}-linux-x64.sha256`);
    for (const s of sums)
      expect(execFileSync('sha256sum', ['-c', s], { cwd: dist, encoding: 'utf8' }), s).toContain(': OK');
  });

  it('ferry check: the native addon loads from the executable (an SEA asset), on this x86-64 processor', async () => {
    const dir = tempDir('check');
    writeAwsConfig(dir, s3);
    const r = await execa(node, ['check', '--aws-config', 'config', '--output', `s3://${BUCKET}/check/`], {
      cwd: dir,
      env: cleanEnv(),
      extendEnv: false,
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/^node {9}x86-64 processor; ferry for linux-x64; native addon loaded \(\w+(, \w+)*\)$/m);
  });
});
