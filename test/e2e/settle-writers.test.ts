import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, startFerry, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';

// The settle rule: a file no process of the run holds open for writing, unchanged between two scans,
// goes up at once, without waiting out --settle (600 s here: the old rule would send nothing while
// the solver waits); a file held open is not sent until it is closed. The solver waits at gates only
// the test opens, after it has listed S3: what it saw there, it saw while the solver still ran.
const BUCKET = bucketFor('ferry-settle');
const s3 = inject('s3');
const admin = adminClient(s3);

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await putBytes(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

const keysUnder = async (prefix: string) => [...(await listAll(admin, BUCKET, prefix)).keys()].sort();

/** A shell wait for `gate` (1 s short of the test's timeout it gives up, writing `gate`.expired). */
const waitGate = (gate: string) =>
  `i=0; until [ -e '${gate}' ]; do i=$((i+1)); [ $i -lt 1200 ] || { touch '${gate}.expired'; exit 9; }; ` +
  'sleep 0.1; done';

describe('ferry run --settle 600: a finished file goes up at once, an open one waits for its close', () => {
  it('sends closed.dat while open.dat is held open; open.dat once closed; both while the solver runs', async () => {
    const dir = tempDir('settle-writers');
    writeAwsConfig(dir, s3);
    const gates = tempDir('gates');
    const [g1, g2] = [join(gates, 'one'), join(gates, 'two')];
    // fd 3 holds open.dat open for writing (one line written) until the first gate opens.
    const script =
      `echo done > closed.dat; exec 3> open.dat; echo part >&3; ${waitGate(g1)}; ` +
      `echo rest >&3; exec 3>&-; ${waitGate(g2)}`;
    const io = ['--input', `s3://${BUCKET}/in/params.txt`, '--output', `s3://${BUCKET}/out/`];
    const args = ['run', '--aws-config', 'config', ...io, '--settle', '600', '--no-mpi', '--', 'sh', '-c', script];
    const run = startFerry(args, { cwd: dir, env: cleanEnv() });
    const has = (k: string) => async () => (await keysUnder('out/')).includes(k);
    await waitFor('closed.dat in S3 while the solver waits', has('out/closed.dat'), { alive: run.running });
    // Scanned at the same moment as closed.dat, a few scans more: open.dat is still not sent.
    const scansLater = Date.now() + 2000;
    await waitFor('two more seconds of scans', () => Date.now() > scansLater, { alive: run.running });
    expect(await keysUnder('out/')).not.toContain('out/open.dat');
    writeFileSync(g1, '');
    await waitFor('open.dat in S3 once closed, the solver still waiting', has('out/open.dat'), { alive: run.running });
    expect(existsSync(`${g1}.expired`) || existsSync(`${g2}.expired`), 'the solver was still waiting').toBe(false);
    expect((await getBytes(admin, BUCKET, 'out/open.dat')).toString()).toBe('part\nrest\n');
    writeFileSync(g2, '');
    const r = await run.result;
    expect(r.exitCode, r.all).toBe(0);
    const log = readFileSync(join(dir, 'ferry.log'), 'utf8');
    expect(log).toMatch(/uploaded closed\.dat \(5 bytes\), verified/);
    expect(log).toMatch(/uploaded open\.dat \(10 bytes\), verified/);
    expect(log).toMatch(/uploading 0 output file\(s\) \(2 more already uploaded and unchanged\)/);
    expect((await getBytes(admin, BUCKET, 'out/closed.dat')).toString()).toBe('done\n');
  });
});
