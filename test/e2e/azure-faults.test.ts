import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { adminContainer, azureConfigText, freshContainer, getBlob, listBlobs, putBlob } from '../helpers/azure.ts';
import { startAzurite, type Azurite } from '../helpers/azurite.ts';
import { ferry, startFerry, tempDir } from '../helpers/ferry.ts';
import { isWrite, requestsFor, startRecorder } from '../helpers/recorder.ts';
import { partBytes } from '../helpers/solver.ts';

// Azurite keeps its state on disk here (in memory, a restart loses everything: measured), and is
// stopped mid-upload with SIGTERM, which saves its state (a SIGKILL loses up to the last 5 s of
// writes: Azurite saves its metadata every 5 s, measured), then started again on the same port.
const CONTAINER = 'ferry-resume';
let azurite: Azurite;
const disk = tempDir('azurite-disk');

beforeAll(async () => {
  azurite = await startAzurite({ location: disk });
  const c = await freshContainer(azurite, CONTAINER);
  await putBlob(c, 'in/params.txt', 'p=1\n');
});
afterAll(async () => azurite?.stop());

describe('Azurite stops mid-upload, then the row is re-run', () => {
  it('exits 73 keeping every output; the re-run sends only what is missing and completes', async () => {
    const dir = tempDir('az-resume');
    writeFileSync(join(dir, 'azure'), azureConfigText(azurite));
    copyFileSync(join(ROOT, 'fixtures/solver/write-outputs.sh'), join(dir, 'write-outputs.sh'));
    const uri = (p: string) => `az://${azurite.account}/${CONTAINER}/${p}`;
    const opts = ['--concurrency', '1', '--part-size', '5MiB', '--retries', '2', '--no-live-upload'];
    const args = [...['run', '--azure-config', 'azure', '--input', uri('in/params.txt'), '--output', uri('resume/')]];
    args.push(...opts, '--no-mpi', '--', './write-outputs.sh', '6', '12');
    // The first attempt goes through a front of ours that holds the second block of part_3.bin (one file
    // at a time: parts 1 and 2 are committed then, part 3's blocks are being staged); Azurite stops meanwhile.
    const front = await startRecorder(`http://127.0.0.1:${azurite.port}`);
    writeFileSync(join(dir, 'azure'), azureConfigText(azurite, azurite.key, `${front.url}/${azurite.account}`));
    let blocks = 0;
    const held = front.hold(
      (q) => q.method === 'PUT' && /\/results\/part_3\.bin\?.*comp=block(&|$)/.test(q.path) && ++blocks === 2,
    );
    const first = startFerry(args, { cwd: dir });
    await held.wait(first.running);
    await azurite.stop('SIGTERM');
    held.release(); // to a server that is gone
    const r1 = await first.result.finally(() => front.close());
    azurite = await startAzurite({ location: disk, port: azurite.port });
    expect(r1.exitCode, r1.all).toBe(73);
    for (let i = 1; i <= 6; i++) expect(existsSync(join(dir, `results/part_${i}.bin`)), `part ${i} kept`).toBe(true);
    const c = adminContainer(azurite, CONTAINER);
    const afterFirst = await listBlobs(c, 'resume/');
    expect(afterFirst.has('resume/_SUCCESS')).toBe(false);
    const had = [...afterFirst.keys()].filter((k) => k.startsWith('resume/results/'));
    expect(had).toEqual(['resume/results/part_1.bin', 'resume/results/part_2.bin']);

    // The re-run goes through a front that records every request reaching Azurite.
    const rec = await startRecorder(`http://127.0.0.1:${azurite.port}`);
    writeFileSync(join(dir, 'azure'), azureConfigText(azurite, azurite.key, `${rec.url}/${azurite.account}`));
    const r2 = await ferry(args, { cwd: dir }).finally(() => rec.close());
    expect(r2.exitCode, r2.all).toBe(0);
    // Writes (Put Blob, Put Block, Put Block List, deletes) per blob: none to what was there.
    const writes = (key: string) => requestsFor(rec, `${azurite.account}/${CONTAINER}`, key).filter(isWrite);
    for (let i = 1; i <= 6; i++) {
      const key = `resume/results/part_${i}.bin`;
      if (had.includes(key)) expect(writes(key), `${key} was already there`).toEqual([]);
      else
        expect(
          writes(key).map((q) => q.method),
          `${key} was missing`,
        ).toContain('PUT');
    }
    const m = JSON.parse((await getBlob(c, 'resume/_manifest.json')).toString());
    expect(m.status).toBe('complete');
    expect(m.outputs).toHaveLength(6);
    for (const o of m.outputs) {
      const body = await getBlob(c, `resume/${o.path}`);
      expect(createHash('sha256').update(body).digest('hex')).toBe(o.sha256);
      expect(body.equals(partBytes(12, Number(/part_(\d)/.exec(o.path)![1])))).toBe(true);
      // The blocks the stopped attempt staged were dropped by the re-run's commit (none left uncommitted).
      const blocks = await c.getBlockBlobClient(`resume/${o.path}`).getBlockList('uncommitted');
      expect(blocks.uncommittedBlocks ?? []).toEqual([]);
    }
    expect((await listBlobs(c, 'resume/')).has('resume/_SUCCESS')).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'write-outputs.sh']);
  });
});
