import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './env.ts';

/** What fixtures/solver/fake-converge.c writes, recomputed here to check uploaded bytes. */
export function expectedOutputs(
  caseName: string,
  ranks: number,
  steps: number,
  volumeKiB: number,
): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let r = 0; r < ranks; r++) {
    let text = '';
    for (let s = 1; s <= steps; s++) text += `case=${caseName} rank=${r}/${ranks} step=${s} value=${(r + 1) * s}\n`;
    out.set(`output/rank_${r}.out`, Buffer.from(text));
  }
  out.set('output/summary.out', Buffer.from(`case=${caseName} ranks=${ranks} steps=${steps}\n`));
  if (volumeKiB > 0) {
    const v = Buffer.alloc(volumeKiB * 1024);
    for (let i = 0; i < v.length; i++) v[i] = (i * 31 + 7) & 0xff;
    out.set('post/volume.bin', v);
  }
  return out;
}

/** Compiles fixtures/solver/fake-converge.c with mpicc into `dir`; returns the binary's path. */
export function compileFakeConverge(dir: string): string {
  const bin = join(dir, 'converge');
  execFileSync('mpicc', ['-O2', '-o', bin, join(ROOT, 'fixtures/solver/fake-converge.c')], { stdio: 'inherit' });
  return bin;
}

/** The bytes of the restart file fake-converge writes after `step` (its header comment's format). */
export function restartFileBytes(caseName: string, ranks: number, step: number, kib = 4): Buffer {
  const payload = Buffer.alloc(kib * 1024);
  let h = 2166136261;
  for (let i = 0; i < payload.length; i++) {
    payload[i] = (i * 13 + step * 7 + 3) & 0xff;
    h = Math.imul(h ^ payload[i], 16777619) >>> 0;
  }
  const head = `fake-converge restart 1\ncase ${caseName}\nranks ${ranks}\nstep ${step}\npayload ${payload.length}\n`;
  return Buffer.concat([Buffer.from(head), payload, Buffer.from(`end ${h.toString(16).padStart(8, '0')}\n`)]);
}

/** The step ledger (FAKE_CONVERGE_STEP_LEDGER): the steps each attempt (by pid) computed, in order. */
export function readStepLedger(path: string): Array<{ pid: number; steps: number[] }> {
  const attempts: Array<{ pid: number; steps: number[] }> = [];
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  for (const line of text.split('\n').filter(Boolean)) {
    const [pid, step] = line.split(' ').map(Number);
    if (attempts.at(-1)?.pid !== pid) attempts.push({ pid, steps: [] });
    attempts.at(-1)!.steps.push(step);
  }
  return attempts;
}

/** The bytes fixtures/solver/write-outputs.sh writes into results/part_<i>.bin (MIB MiB). */
export function partBytes(mib: number, i: number): Buffer {
  const block = Buffer.alloc(65536);
  for (let j = 0; j < block.length; j++) block[j] = (j * 7 + i) & 0xff;
  return Buffer.concat(Array.from({ length: mib * 16 }, () => block));
}
