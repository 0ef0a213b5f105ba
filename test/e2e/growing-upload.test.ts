import { ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// A big output still being written sends its parts as it grows past them (a multipart upload the test
// sees in S3 while the solver holds the file open); at its close only the rest goes, and every part
// is read again first: one rewritten in place since it was sent goes again. The solver waits at gates
// only the test opens, after it has looked in S3.
const BUCKET = bucketFor('ferry-growing');
const s3 = inject('s3');
const admin = adminClient(s3);
const MiB = 1024 * 1024;

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

/** A shell wait for `gate` (1 s short of the test's timeout it gives up, writing `gate`.expired). */
const waitGate = (gate: string) =>
  `i=0; until [ -e '${gate}' ]; do i=$((i+1)); [ $i -lt 1200 ] || { touch '${gate}.expired'; exit 9; }; ` +
  'sleep 0.1; done';

/** The unfinished multipart uploads under `prefix`, each with the numbers of the parts it holds. */
async function unfinished(prefix: string): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  const ups = await admin.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  for (const u of ups.Uploads ?? []) {
    const parts = await admin.send(new ListPartsCommand({ Bucket: BUCKET, Key: u.Key, UploadId: u.UploadId }));
    out.set(
      u.Key!,
      (parts.Parts ?? []).map((p) => p.PartNumber!),
    );
  }
  return out;
}

/** `ferry run` of `script`, 5 MiB parts, into s3://BUCKET/`out`; its gates. */
function runScript(name: string, out: string, script: (g1: string, g2: string) => string) {
  const dir = tempDir(name);
  writeAwsConfig(dir, s3);
  const gates = tempDir(`${name}-gates`);
  const [g1, g2] = [join(gates, 'one'), join(gates, 'two')];
  const io = ['--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/${out}`];
  const args = ['run', '--aws-config', 'config', ...io, '--part-size', '5MiB', '--no-mpi'];
  const run = startFerry([...args, '--', 'sh', '-c', script(g1, g2)], { cwd: dir, env: cleanEnv() });
  return { dir, run, open: (g: string) => writeFileSync(g, ''), g1, g2 };
}

// 20 MiB of 'a' through fd 3, held open: its 4 whole parts of 5 MiB can go up before the close.
const TWENTY = `exec 3> post.bin; head -c ${20 * MiB} /dev/zero | tr '\\0' a >&3`;

describe('ferry run: a big output goes up part by part while it is written', () => {
  it('its parts are in S3 before the close; the close sends byte 0 rewritten in place and the tail', async () => {
    const { dir, run, open, g1, g2 } = runScript('growing', 'out/', (g1, g2) =>
      [
        TWENTY,
        waitGate(g1),
        // A header rewritten at the close (inside part 1, sent long ago), then the tail through fd 3.
        'printf X | dd of=post.bin bs=1 count=1 conv=notrunc status=none',
        'echo tail >&3; exec 3>&-',
        waitGate(g2),
      ].join('; '),
    );
    const sent = async () => (await unfinished('out/')).get('out/post.bin') ?? [];
    await waitFor('4 parts of post.bin in S3 while it is open', async () => (await sent()).length >= 4, {
      alive: run.running,
      context: () => JSON.stringify([...readFileSync(join(dir, 'ferry.log'), 'utf8').split('\n').slice(-5)]),
    });
    expect(await sent()).toEqual([1, 2, 3, 4]);
    expect((await listAll(admin, BUCKET, 'out/')).has('out/post.bin')).toBe(false);
    open(g1);
    const has = async () => (await listAll(admin, BUCKET, 'out/')).has('out/post.bin');
    await waitFor('post.bin in S3 once closed, the solver still waiting', has, { alive: run.running });
    const verified = () => readFileSync(join(dir, 'ferry.log'), 'utf8').includes('uploaded post.bin (');
    await waitFor('post.bin verified, the solver still waiting', verified, { alive: run.running });
    open(g2);
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    const want = Buffer.concat([Buffer.from('X'), Buffer.alloc(20 * MiB - 1, 'a'), Buffer.from('tail\n')]);
    expect((await getBytes(admin, BUCKET, 'out/post.bin')).equals(want)).toBe(true);
    const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
    expect(log).toContain(
      `uploaded post.bin (${want.length} bytes), verified; 3 of its 5 parts sent while it was written`,
    );
    expect(log).toMatch(/uploading 0 output file\(s\) \(\d+ more already uploaded and unchanged\)/);
    expect([...(await unfinished('out/')).keys()]).toEqual([]);
  });

  it('a file preallocated, filled and cut back at its close goes up as it ends (exit 0, its bytes)', async () => {
    // truncate -s grows it to 40 MiB at once (held open, its zero parts go up), 12 MiB of 'b' fill it, and the
    // close cuts it to those: fewer parts than were sent, which Ceph will not complete as one upload.
    const fill = `head -c ${12 * MiB} /dev/zero | tr '\\0' b | dd of=pre.bin conv=notrunc status=none`;
    const { dir, run, open, g1 } = runScript('growing-shrink', 'shrink/', (g1) =>
      [
        `truncate -s ${40 * MiB} pre.bin; exec 3<> pre.bin`,
        waitGate(g1),
        fill,
        `truncate -s ${12 * MiB} pre.bin; exec 3>&-`,
      ].join('; '),
    );
    const parts = async () => (await unfinished('shrink/')).get('shrink/pre.bin')?.length ?? 0;
    await waitFor('parts of pre.bin in S3 while it is 40 MiB', async () => (await parts()) >= 6, {
      alive: run.running,
    });
    open(g1);
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    expect((await getBytes(admin, BUCKET, 'shrink/pre.bin')).equals(Buffer.alloc(12 * MiB, 'b'))).toBe(true);
    expect(readFileSync(join(dir, 'ferry.log'), 'utf8')).toMatch(/uploaded pre\.bin \(12582912 bytes\), verified\n/);
    expect([...(await unfinished('shrink/')).keys()]).toEqual([]);
  });

  it('a big file the solver deletes before its close leaves no upload behind', async () => {
    const { run, open, g1 } = runScript('growing-gone', 'gone/', (g1) =>
      [
        TWENTY.replace('post.bin', 'scratch.bin'),
        waitGate(g1),
        'rm scratch.bin',
        'exec 3>&-',
        'echo done > end.txt',
      ].join('; '),
    );
    const parts = async () => (await unfinished('gone/')).get('gone/scratch.bin')?.length ?? 0;
    await waitFor('parts of scratch.bin in S3 while it is open', async () => (await parts()) >= 2, {
      alive: run.running,
    });
    open(g1);
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    const outputs = [...(await listAll(admin, BUCKET, 'gone/')).keys()].filter((k) => !k.startsWith('gone/_'));
    expect(outputs).toEqual(['gone/end.txt']);
    expect([...(await unfinished('gone/')).keys()]).toEqual([]);
  });
});
