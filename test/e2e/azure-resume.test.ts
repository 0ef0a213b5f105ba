// One resumed row on the Azure store: a solver that is not CONVERGE wired with the generic checkpoint
// profile (--checkpoint-files, --checkpoint-trigger), stopped with SIGTERM, then run again in a fresh
// run directory (as the platform restarts it on another node): the second attempt resumes from the
// checkpoint the first uploaded and journaled, and the row completes. Real Azurite, real processes.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';
import { adminContainer, azureConfigText, freshContainer, getBlob, listBlobs, putBlob } from '../helpers/azure.ts';
import { readLedger } from '../helpers/ledger.ts';
import { cleanEnv, ferry, startFerry, tempDir } from '../helpers/ferry.ts';
import { readStepLedger } from '../helpers/solver.ts';
import { createHash } from 'node:crypto';

const az = inject('azure');
const CONTAINER = 'ferry-azure-resume';
const c = adminContainer(az, CONTAINER);
const uri = (path: string) => `az://${az.account}/${CONTAINER}/${path}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const STEPS = 12;
const EVERY = 4;

beforeAll(async () => {
  await freshContainer(az, CONTAINER);
  await putBlob(c, 'in/params.txt', 'steps 12\n');
});

/** One attempt in a fresh run directory: the credentials file and the solver script, as a job stages them. */
function attempt(ledgers: { steps: string; files: string }) {
  const dir = tempDir('az-resume-row');
  writeFileSync(join(dir, 'azure'), azureConfigText(az));
  copyFileSync(join(ROOT, 'fixtures/solver/checkpointing.sh'), join(dir, 'checkpointing.sh'));
  const args = ['run', '--azure-config', 'azure', '--input', uri('in/params.txt'), '--output', uri('row/')];
  args.push('--checkpoint-files', 'state/*.ckpt', '--checkpoint-trigger', 'CKPT', '--settle', '1', '--no-mpi');
  args.push('--', './checkpointing.sh', String(STEPS), String(EVERY), '0.7');
  const env = cleanEnv({ STEP_LEDGER: ledgers.steps, LEDGER: ledgers.files, FERRY_LEASE_TTL_SECONDS: '8' });
  return { dir, run: startFerry(args, { cwd: dir, env }) };
}

async function journaled(): Promise<string[]> {
  const paths: string[] = [];
  for (const k of (await listBlobs(c, 'row/_ferry.journal/')).keys())
    for (const e of JSON.parse((await getBlob(c, k)).toString()).entries) if (e.checkpoint) paths.push(e.path);
  return paths;
}

describe('a row on Azure stopped (SIGTERM) and carried on by a later attempt in a fresh run dir', () => {
  it('resumes from the journaled checkpoint; the outputs are whole; every byte is in Azure or on disk', async () => {
    const base = tempDir('az-resume-ledgers');
    const first = { steps: join(base, 'steps'), files: join(base, 'files-1') };
    const a = attempt(first);
    for (const end = Date.now() + 60_000; (await journaled()).length === 0;) {
      expect(Date.now() < end && a.run.running(), a.run.output()).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
    }
    a.run.child.kill('SIGTERM');
    const r1 = await a.run.result;
    expect(r1.exitCode, r1.all).toBe(143);
    expect(r1.all).toContain('asked the solver for a checkpoint (CKPT)');
    expect(r1.all).toMatch(/checkpoint state\/step-\d+\.ckpt \(\d+ bytes\) uploaded and journaled/);
    const saved = await journaled();
    const newest = saved.sort().at(-1)!;

    const second = { steps: first.steps, files: join(base, 'files-2') };
    const b = attempt(second);
    const r2 = await b.run.result;
    expect(r2.exitCode, r2.all).toBe(0);
    expect(r2.all).toContain(`resuming from the checkpoint ${newest}`);
    expect(r2.all).toContain(`checkpointing: resuming after step ${Number(/(\d+)\.ckpt$/.exec(newest)![1])}`);

    // the steps: two attempts, the second from the checkpoint, not from step 1
    const runs = readStepLedger(first.steps);
    expect(runs).toHaveLength(2);
    expect(runs[0].steps.length).toBeLessThan(STEPS); // stopped, not finished
    expect(runs[1].steps[0]).toBe(Number(/(\d+)\.ckpt$/.exec(newest)![1]) + 1);
    expect(runs.reduce((n, x) => n + x.steps.length, 0)).toBeLessThanOrEqual(STEPS + EVERY);

    // the outputs equal an uninterrupted run's, and the manifest lists every object
    const blobs = await listBlobs(c, 'row/');
    for (let i = 1; i <= STEPS; i++) expect((await getBlob(c, `row/out/step-${i}.txt`)).toString()).toBe(`step ${i}\n`);
    expect((await getBlob(c, 'row/out/summary.txt')).toString()).toBe(`${STEPS} steps\n`);
    expect(blobs.has('row/_SUCCESS')).toBe(true);
    const m = JSON.parse((await getBlob(c, 'row/_manifest.json')).toString());
    expect(m.status).toBe('complete');
    expect(m.attempts).toHaveLength(2);
    const own = (k: string) => /^row\/(_manifest\.json|_SUCCESS|_ferry\.log|_ferry\.lease|_ferry\.journal\/)/.test(k);
    const listed = [...blobs.keys()].filter((k) => !own(k)).map((k) => k.slice('row/'.length));
    expect(m.outputs.map((o: { path: string }) => o.path).sort()).toEqual(listed.sort());
    const cfg = join(tempDir('az-resume-verify'), 'azure');
    writeFileSync(cfg, azureConfigText(az));
    const v = await ferry(['verify', '--deep', '--azure-config', cfg, uri('row/')]);
    expect(v.exitCode, v.all).toBe(0);

    // ledger: every file either attempt finished is in Azure or (the first, stopped: nothing deleted) on disk
    const lost: string[] = [];
    for (const [dir, file] of [
      [a.dir, first.files],
      [b.dir, second.files],
    ] as const)
      for (const [rel, hash] of readLedger(file)) {
        const local = (() => {
          try {
            return readFileSync(join(dir, rel));
          } catch {
            return undefined;
          }
        })();
        if (local && sha(local) === hash) continue;
        const remote = await getBlob(c, `row/${rel}`).catch(() => undefined);
        if (!remote || sha(remote) !== hash) lost.push(`${dir}: ${rel}`);
      }
    expect(lost).toEqual([]);
  });
});
