import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, ferry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { canMountTmpfs } from '../helpers/mount.ts';
import { methodsOn, startRecorder } from '../helpers/recorder.ts';
import { adminClient, bucketFor, ensureBucket, putBytes } from '../helpers/s3.ts';
import { walk } from '../helpers/tree.ts';
import { zipCorpus } from '../helpers/zips.ts';

// A corpus of legitimate and hostile zips (Python's zipfile, Info-ZIP `zip -` to a pipe, jar), each
// fetched with `ferry get` into DIR/target next to an empty DIR/canary.
const BUCKET = bucketFor('ferry-archives');
const s3 = inject('s3');
const admin = adminClient(s3);
const { dir: corpus, cases } = zipCorpus();
let config: string;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  for (const c of cases) await putBytes(admin, BUCKET, `zips/${c.file}`, readFileSync(join(corpus, c.file)));
  config = writeAwsConfig(tempDir('cfg'), s3);
});
afterAll(() => admin.destroy());

describe('ferry get on archives', () => {
  it('made a corpus with hostile and legitimate cases', () => {
    expect(cases.filter((c) => c.expect === 'refuse').length).toBeGreaterThanOrEqual(15);
    expect(cases.filter((c) => c.expect === 'ok').length).toBeGreaterThanOrEqual(8);
  });

  it.each(cases.map((c) => [c.file, c] as const))('%s', async (_name, c) => {
    const root = tempDir('arch');
    const target = join(root, 'target');
    mkdirSync(join(root, 'canary'));
    const r = await ferry(['get', '--aws-config', config, ...c.args, `s3://${BUCKET}/zips/${c.file}`, target], {
      env: cleanEnv(),
    });
    // Nothing ever lands outside the target, and no half-written file is left behind.
    expect(readdirSync(join(root, 'canary'))).toEqual([]);
    expect(existsSync('/tmp/ferry-canary-absolute.txt')).toBe(false);
    const written = existsSync(target) ? walk(target, { dirs: true }) : [];
    expect(written.filter((f) => f.includes('.ferry-'))).toEqual([]);
    if (c.expect === 'ok') {
      expect(r.exitCode, r.all).toBe(0);
      // Every file and folder the archive holds, and nothing more; each file's bytes.
      expect(written.length).toBe(c.entries);
      for (const [rel, content] of Object.entries(c.files!)) {
        const p = join(target, rel);
        if (rel.endsWith('/')) expect(statSync(p).isDirectory(), rel).toBe(true);
        else if (content === null) expect(statSync(p).isFile(), rel).toBe(true);
        else if (typeof content === 'string') expect(readFileSync(p, 'utf8'), rel).toBe(content);
        else expect(createHash('sha256').update(readFileSync(p)).digest('hex'), rel).toBe(content.sha256);
      }
    } else {
      expect(r.exitCode, r.all).toBe(65);
      expect(r.stderr).toContain(c.why!);
      if (c.entry) expect(r.stderr).toContain(`'${c.entry}'`);
      expect(r.stderr).toContain('hint:');
      // Refused before anything is written: not even the entries ahead of the bad one (slip.zip's ok.txt).
      expect(written).toEqual([]);
    }
    rmSync(root, { recursive: true }); // passed: zip64-many.zip alone leaves 65,602 entries (260 MB of inodes)
  });
});

describe('disk space', () => {
  const title = 'an input larger than the free space: exit 74 before writing, no temp file left';
  it.runIf(canMountTmpfs())(title, { tags: ['mount'] }, async () => {
    const mnt = tempDir('tiny');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    try {
      await putBytes(admin, BUCKET, 'big/blob.bin', Buffer.alloc(3 * 1024 * 1024, 1));
      // Through a proxy that records the requests: the object is looked at (HEAD), never fetched.
      const proxy = await startRecorder(s3.endpoint);
      const args = ['get', '--aws-config', config, '--endpoint', proxy.url, `s3://${BUCKET}/big/blob.bin`, mnt];
      const r = await ferry(args, { env: cleanEnv() }).finally(() => proxy.close());
      expect(r.exitCode, r.all).toBe(74);
      expect(r.stderr).toContain('free');
      const blob = methodsOn(proxy, BUCKET, 'big/blob.bin');
      expect(blob).toContain('HEAD');
      expect(blob).not.toContain('GET');
      expect(readdirSync(mnt)).toEqual([]);
      const z = await ferry(['get', '--aws-config', config, `s3://${BUCKET}/zips/bomb.zip`, mnt], { env: cleanEnv() });
      expect(z.exitCode, z.all).toBe(74);
      expect(z.stderr).toContain('the free disk space');
      expect(readdirSync(mnt)).toEqual([]);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
