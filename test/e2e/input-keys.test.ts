import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { startGateProxy } from '../helpers/gate-proxy.ts';
import { Ledger } from '../helpers/ledger.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';

// Store keys become local paths only inside the run directory: keys that climb out, hold '.' or
// empty segments, a file and a folder of one name, a link planted in the run directory — refused
// before anything is written. An input replaced while it downloads is downloaded again, whole.
const BUCKET = 'ferry-i21-keys';
const s3 = inject('s3');
const admin = adminClient(s3);
const COPY = ['sh', '-c', 'find . -name "*.txt" -newer config | sort > seen.lst'];
/** A refused run's directory: its state and log; ./config (the credentials it was given) went when it ended. */
const REFUSED = ['.ferry-state.json', 'ferry.log'];

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
});
afterAll(() => admin.destroy());

/** A run directory two folders below a base that holds a victim file the hostile key aims at. */
function nested(name: string): { base: string; dir: string; ledger: Ledger } {
  const base = tempDir(name);
  const dir = join(base, 'jobs', 'run');
  mkdirSync(dir, { recursive: true });
  const ledger = new Ledger(dir);
  ledger.write('../../victim.txt', 'the victim: a file two levels above the run directory\n');
  ledger.write('../sibling.txt', 'next to the run directory\n');
  return { base, dir, ledger };
}

describe('an input prefix with keys that are not plain relative paths: 65 naming the key, nothing written', () => {
  it.each([
    ['climbs out with ..', 'up', 'pin/../../victim.txt', "'..' segment"],
    ['one level up', 'up1', '../sibling.txt', "'..' segment"],
    ['a . segment', 'dot', 'a/./b.txt', "'.' segment"],
    ['an empty segment', 'empty', 'a//b.txt', 'empty segment'],
    ['a leading /', 'abs', '/abs.txt', 'starts with /'],
  ])('%s (%s)', async (_what, name, rel, says) => {
    const { dir, ledger } = nested(name);
    const prefix = `in-${name}/`;
    await ledger.put(admin, BUCKET, `${prefix}good.txt`, 'a good object\n');
    await ledger.put(admin, BUCKET, `${prefix}${rel}`, 'HOSTILE BYTES\n');
    const { run } = runRow(s3, {
      dir,
      bucket: BUCKET,
      out: `out-${name}`,
      inputs: [`s3://${BUCKET}/${prefix}`],
      solver: COPY,
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stderr).toContain(`refusing the input object '${prefix}${rel}'`);
    expect(r.stderr).toContain(says);
    expect(readdirSync(dir).sort()).toEqual(REFUSED);
    expect(await ledger.lost(admin, BUCKET, `out-${name}/`)).toEqual([]);
    // the failure is recorded (a failed manifest and the log, issue 27 item 2); the lease went
    const keys = [...(await listAll(admin, BUCKET, `out-${name}/`)).keys()].sort();
    expect(keys).toEqual([`out-${name}/_ferry.log`, `out-${name}/_manifest.json`]);
    const m = JSON.parse((await getBytes(admin, BUCKET, `out-${name}/_manifest.json`)).toString());
    expect(m).toMatchObject({ status: 'failed', outputs: [], error: { exit_code: 65 } });
  });

  it('ferry get refuses the same key (65), writing nothing', async () => {
    const { base, ledger } = nested('get-up');
    await ledger.put(admin, BUCKET, 'in-get/pin/../../victim.txt', 'HOSTILE BYTES\n');
    const cfg = writeAwsConfig(base, s3);
    const target = join(base, 'jobs', 'run');
    const r = await ferry(['get', '--aws-config', cfg, `s3://${BUCKET}/in-get/`, target], { env: cleanEnv() });
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stderr).toContain("refusing the input object 'in-get/pin/../../victim.txt'");
    expect(readdirSync(target)).toEqual([]);
    expect(await ledger.lost(admin, BUCKET, 'nowhere/')).toEqual([]);
  });
});

describe('a symbolic link in the run directory', () => {
  it('an input prefix would write through it: 65 naming the link, its target untouched', async () => {
    const outside = tempDir('link-target');
    const { dir, ledger } = nested('link');
    const target = new Ledger(outside);
    target.write('x.txt', 'what the link target held\n');
    symlinkSync(outside, join(dir, 'link'));
    await ledger.put(admin, BUCKET, 'in-link/link/x.txt', 'HOSTILE BYTES\n');
    await ledger.put(admin, BUCKET, 'in-link/y.txt', 'fine\n');
    const { run } = runRow(s3, {
      dir,
      bucket: BUCKET,
      out: 'out-link',
      inputs: [`s3://${BUCKET}/in-link/`],
      solver: COPY,
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stderr).toContain("'in-link/link/x.txt' would be written through the symbolic link ./link");
    expect(readdirSync(outside)).toEqual(['x.txt']);
    expect(existsSync(join(dir, 'y.txt'))).toBe(false);
    expect(await ledger.lost(admin, BUCKET, 'out-link/')).toEqual([]);
    expect(await target.lost(admin, BUCKET, 'nowhere/')).toEqual([]);
  });
});

describe('a file and a folder of one name in one input: 65 naming both', () => {
  it('in an input prefix (a and a/b)', async () => {
    const { dir, ledger } = nested('ab-prefix');
    await ledger.put(admin, BUCKET, 'in-ab/a', 'a file named a\n');
    await ledger.put(admin, BUCKET, 'in-ab/a/b', 'a file under a folder named a\n');
    const { run } = runRow(s3, { dir, bucket: BUCKET, out: 'out-ab', inputs: [`s3://${BUCKET}/in-ab/`], solver: COPY });
    const r = await run;
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stderr).toContain("'in-ab/a' is a file, and 'in-ab/a/b' needs a folder there");
    expect(readdirSync(dir).sort()).toEqual(REFUSED);
    expect(await ledger.lost(admin, BUCKET, 'out-ab/')).toEqual([]);
  });

  it('in a zip (entries a and a/b)', async () => {
    const { dir, ledger } = nested('ab-zip');
    const zip = join(tempDir('ab-zipsrc'), 'ab.zip');
    const py =
      "import zipfile,sys\nz=zipfile.ZipFile(sys.argv[1],'w')\n" +
      "z.writestr('a','file a\\n')\nz.writestr('a/b','file b\\n')\nz.close()";
    execFileSync('python3', ['-c', py, zip]);
    await ledger.put(admin, BUCKET, 'in-abzip/ab.zip', readFileSync(zip));
    const { run } = runRow(s3, {
      dir,
      bucket: BUCKET,
      out: 'out-abzip',
      inputs: [`s3://${BUCKET}/in-abzip/ab.zip`],
      solver: COPY,
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(65);
    expect(r.stderr).toContain("'a' is a file, and 'a/b' needs a folder there");
    expect(readdirSync(dir).sort()).toEqual(REFUSED);
    expect(await ledger.lost(admin, BUCKET, 'out-abzip/')).toEqual([]);
  });
});

describe('an input replaced while it downloads', () => {
  const MiB = 1024 * 1024;
  /** A stored zip of `files` (so the download takes several ranged reads) and the data entry's bytes. */
  const zipOf = (files: Record<string, Buffer>): Buffer => {
    const src = tempDir('chg-zip');
    const l = new Ledger(src);
    for (const [n, b] of Object.entries(files)) l.write(n, b);
    execFileSync('zip', ['-0', '-q', 'case.zip', ...Object.keys(files)], { cwd: src });
    return readFileSync(join(src, 'case.zip'));
  };
  const versions = (kind: 'plain' | 'zip') =>
    [1, 2].map((v) => {
      const data = randomBytes(12 * MiB);
      const extra = { [v === 1 ? 'old.txt' : 'new.txt']: Buffer.from(`version ${v} only\n`) };
      return { data, body: kind === 'plain' ? data : zipOf({ 'data.bin': data, ...extra }) };
    });
  it.each([
    ['a plain object', 'plain' as const, 'data.bin'],
    ['a zip', 'zip' as const, 'case.zip'],
  ])(
    '%s: said, downloaded again from the start with the new ETag; the run gets the new version',
    async (_w, kind, name) => {
      const out = `out-chg-${kind}`;
      const key = `in-chg/${name}`;
      const dir = tempDir(out);
      const ledger = new Ledger(dir);
      const [first, second] = versions(kind);
      await ledger.put(admin, BUCKET, key, first.body); // replaced by the test below: only the second must stay
      const proxy = await startGateProxy(
        s3.endpoint,
        (head) =>
          /^GET \/[^ ?]+[ ?]/.test(head) &&
          head.startsWith(`GET /${BUCKET}/${key}`) &&
          /\r\nrange: bytes=0-/i.test(head),
        () => ledger.put(admin, BUCKET, key, second.body),
      );
      const { run } = runRow(s3, {
        dir,
        bucket: BUCKET,
        out,
        inputs: [`s3://${BUCKET}/${key}`],
        solver: ['sh', '-c', 'ls > listing.txt'],
        extra: ['--endpoint', proxy.url, '--part-size', '5MiB', '--keep'],
      });
      const r = await run.finally(() => proxy.close());
      expect(r.exitCode, r.all).toBe(0);
      expect(proxy.matched, 'the gate held the first ranged GET of the data').toBeGreaterThan(0);
      expect(r.stderr).toContain(`s3://${BUCKET}/${key} changed while it was downloaded: downloading it again`);
      expect(readFileSync(join(dir, 'data.bin')).equals(second.data)).toBe(true);
      const listing = readFileSync(join(dir, 'listing.txt'), 'utf8').split('\n');
      if (kind === 'zip') expect(listing).toEqual(expect.arrayContaining(['new.txt']));
      expect(listing).not.toContain('old.txt');
      const m = JSON.parse((await getBytes(admin, BUCKET, `${out}/_manifest.json`)).toString());
      expect(m.inputs).toEqual([
        {
          uri: `s3://${BUCKET}/${key}`,
          etag: createHash('md5').update(second.body).digest('hex'),
          size: second.body.length,
        },
      ]);
      expect(await ledger.lost(admin, BUCKET, `${out}/`)).toEqual([]);
    },
  );
});
