import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFor } from '../../agent/commands/spec.ts';
import { RUN } from '../../agent/commands/run/spec.ts';
import { runConfig } from '../../agent/config.ts';
import type { CommandContext } from '../../agent/context.ts';
import { runRow } from '../../agent/run/pipeline.ts';
import { openRow } from '../../agent/run/row.ts';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { verifyPrefix } from '../../agent/prefix/verify.ts';
import { Progress } from '../../agent/transfer/progress.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { objectsUnder, OUT, quietLog, runDir, storesOf } from '../helpers/unit-run.ts';

/** One `ferry run` row through every stage, in this process, against the in-memory store. */
async function row(dir: string, store: MemoryStore, script: string, extra: string[] = [], more = {}) {
  const argv = ['--input', 's3://bucket/in/params.txt', '--output', 's3://bucket/out/row/', '--no-mpi', ...extra];
  const env = { PATH: process.env.PATH, HOME: dir, ...more };
  const cfg = runConfig(parseFor(RUN, [...argv, '--', 'sh', '-c', script]), env, dir);
  const log = quietLog();
  log.attachFile(join(dir, 'ferry.log'));
  const ctx: CommandContext = {
    argv,
    env,
    cwd: dir,
    log,
    progress: new Progress(log),
    stop: new AbortController().signal,
    hardStop: new AbortController().signal,
  };
  try {
    return await runRow(await openRow(cfg, ctx, storesOf(store)));
  } finally {
    log.detachFile();
  }
}

describe('the pipeline of ferry run, stage by stage, against the in-memory store', () => {
  it('fetch → solve → record → wipe: outputs verified, the claim written, the run dir wiped as accounted', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=1\n');
    const dir = runDir({ 'notes.txt': 'there before' }, 60_000);
    const end = await row(dir, store, 'mkdir -p out && cat params.txt > out/result.txt && echo log > run.log');
    expect(end.code).toBe(0);
    expect(end.status).toBe('complete');
    const objects = objectsUnder(store, OUT);
    // the journal went once the complete manifest held all it knew (before _SUCCESS)
    expect(store.calls.filter((c) => c.startsWith(`put ${OUT.key}_ferry.journal/`))).toHaveLength(1);
    expect(Object.keys(objects).sort()).toEqual([
      '_SUCCESS',
      '_ferry.log',
      '_manifest.json',
      'out/result.txt',
      'run.log',
    ]);
    expect(objects['out/result.txt']).toBe('p=1\n');
    const manifest = JSON.parse(objects['_manifest.json']);
    expect(manifest.outputs.map((o: { path: string }) => o.path)).toEqual(['out/result.txt', 'run.log']);
    expect(manifest.outputs.every((o: { attempt: string }) => o.attempt === manifest.attempt)).toBe(true);
    expect(manifest.attempts).toHaveLength(1);
    expect(manifest.inputs).toEqual([{ uri: 's3://bucket/in/params.txt', etag: expect.any(String), size: 4 }]);
    // what was there before stays; the input, the outputs and the folders the run made are gone
    expect(readdirSync(dir).filter((n) => !n.startsWith('.ferry') && n !== 'ferry.log')).toEqual(['notes.txt']);
    expect(existsSync(join(dir, 'out'))).toBe(false);
    expect(store.objects.has(`${OUT.key}_ferry.lease`)).toBe(false); // the lease released
  });

  it('a run that waited for the lease of an attempt that then completed the row: done, not run again', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=1\n');
    let lease = '';
    store.beforePut = (key, body) => void (key === `${OUT.key}_ferry.lease` && (lease = body.toString()));
    const script = 'mkdir -p out && cat params.txt > out/result.txt';
    const first = await row(runDir({}, 60_000), store, script);
    expect(first.code).toBe(0);
    const now = new Date().toISOString();
    const other = { ...JSON.parse(lease), attempt: 'another-attempt', host: 'another-node', heartbeat_at: now };
    // The prefix as the first attempt left it a moment before its end: no _SUCCESS yet, and its lease
    // (another node's, renewed just now). It ends 1.5 s later.
    const success = store.objects.get(`${OUT.key}_SUCCESS`)!;
    store.objects.delete(`${OUT.key}_SUCCESS`);
    store.put(`${OUT.key}_ferry.lease`, JSON.stringify(other));
    const ends = setTimeout(() => {
      store.objects.set(`${OUT.key}_SUCCESS`, success);
      store.objects.delete(`${OUT.key}_ferry.lease`);
    }, 1500);
    try {
      const dir = runDir({}, 60_000);
      const mark = store.calls.length;
      const second = await row(dir, store, script, [], { FERRY_LEASE_TTL_SECONDS: '12' });
      expect(second).toMatchObject({ code: 0, status: 'complete', solverMs: 0 });
      expect(existsSync(join(dir, 'out'))).toBe(false); // the solver did not run
      expect(store.calls.slice(mark).filter((c) => c.startsWith('put ') && !c.endsWith('_ferry.lease'))).toEqual([]);
    } finally {
      clearTimeout(ends);
    }
    expect(store.objects.get(`${OUT.key}_SUCCESS`)).toBe(success); // never withdrawn
    expect(store.calls.filter((c) => c === `remove ${OUT.key}_SUCCESS`)).toEqual([]);
  }, 30_000);

  it('killed after the journal went, before its _SUCCESS: the next attempt resumes from its checkpoint', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=1\n');
    const script = 'echo "from=$FERRY_RESUMED_FROM" > resumed.txt && echo state > ckpt_0001.chk';
    const flags = ['--checkpoint-files', 'ckpt_*.chk'];
    expect((await row(runDir({}, 60_000), store, script, flags)).code).toBe(0);
    const first = JSON.parse(objectsUnder(store, OUT)['_manifest.json']);
    expect(first.outputs.find((o: { path: string }) => o.path === 'ckpt_0001.chk').checkpoint).toBe(true);
    // Killed between removing the journal and writing _SUCCESS: a complete manifest is all that is left.
    store.objects.delete(`${OUT.key}_SUCCESS`);
    expect(Object.keys(objectsUnder(store, OUT)).filter((k) => k.startsWith('_ferry.journal/'))).toEqual([]);
    expect((await row(runDir({}, 60_000), store, script, flags)).code).toBe(0);
    expect(objectsUnder(store, OUT)['resumed.txt']).toMatch(/^from=\/.+\/ckpt_0001\.chk\n$/); // resumed from it
    const second = JSON.parse(objectsUnder(store, OUT)['_manifest.json']);
    expect(second.outputs.find((o: { path: string }) => o.path === 'ckpt_0001.chk').checkpoint).toBe(true);
  });

  it('a prefix that does not read back as its manifest says: no _SUCCESS, nothing wiped, exit 73', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=1\n');
    // Someone deletes an output from the prefix while the manifest is on its way.
    store.beforePut = (key) =>
      void (key === `${OUT.key}_manifest.json` && store.objects.delete(`${OUT.key}out/result.txt`));
    const dir = runDir({}, 60_000);
    const end = await row(dir, store, 'mkdir -p out && cat params.txt > out/result.txt');
    expect(end).toMatchObject({ code: 73, status: 'incomplete' });
    const objects = objectsUnder(store, OUT);
    expect(objects['_SUCCESS']).toBeUndefined();
    expect(JSON.parse(objects['_manifest.json']).status).toBe('incomplete');
    expect(readFileSync(join(dir, 'out/result.txt'), 'utf8')).toBe('p=1\n'); // its bytes: still here
  });

  it("the journal's last segment goes up beside the listing of the record stage, in before the manifest", async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=1\n');
    const order: string[] = [];
    store.beforePut = async (key) => {
      if (key === `${OUT.key}_manifest.json`) order.push('put _manifest.json');
      if (!key.includes('_ferry.journal/')) return;
      const from = store.calls.lastIndexOf(`put ${key}`) + 1; // (the calls after its own)
      await new Promise((r) => setTimeout(r, 300)); // the segment's PUT, held
      // (what else was asked meanwhile: the listing the manifest is made from)
      order.push(...store.calls.slice(from).filter((c) => c === `list ${OUT.key}`));
      order.push('journal stored');
    };
    const dir = runDir({}, 60_000);
    const end = await row(dir, store, 'mkdir -p out && cat params.txt > out/result.txt');
    expect(end.code).toBe(0);
    expect(order.slice(0, 3)).toEqual([`list ${OUT.key}`, 'journal stored', 'put _manifest.json']);
    expect(Object.keys(objectsUnder(store, OUT)).filter((k) => k.startsWith('_ferry.journal/'))).toEqual([]);
  });

  it('a solver that fails: its outputs still go up, verified (so the wipe takes them), its code is ours', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=2\n');
    const dir = runDir();
    const end = await row(dir, store, 'echo partial > part.out; exit 3');
    expect(end.code).toBe(3);
    expect(end.status).toBe('solver-failed');
    expect(objectsUnder(store)['part.out']).toBe('partial\n');
    expect(objectsUnder(store)['_SUCCESS']).toBeUndefined();
    expect(JSON.parse(objectsUnder(store)['_manifest.json']).solver.exit_code).toBe(3);
    expect(existsSync(join(dir, 'part.out'))).toBe(false);
  });

  it('another run holding the prefix: 75 before anything is downloaded or written', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=3\n');
    const held = {
      run_id: 'other',
      host: 'node-7',
      pid: 1,
      ferry: 'x',
      started_at: '',
      heartbeat_at: new Date().toISOString(),
    };
    store.put(`${OUT.key}_ferry.lease`, JSON.stringify(held));
    const dir = runDir();
    await expect(row(dir, store, 'echo never > x.out')).rejects.toMatchObject({ exitCode: 75 });
    expect(store.calls.filter((c) => c.startsWith('read '))).toEqual([]);
    expect(existsSync(join(dir, 'params.txt'))).toBe(false);
    expect(existsSync(join(dir, 'x.out'))).toBe(false);
  });

  it('a later attempt in a fresh run dir adopts what the earlier one left; a stray object is listed too', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=4\n');
    store.put(`${OUT.key}stray.bin`, 'put there by hand');
    const flag = join(runDir(), 'second');
    const script = `if [ -e ${flag} ]; then echo b > b.txt; else echo a > a.txt; exit 1; fi`;
    const first = await row(runDir(), store, script);
    expect(first.status).toBe('solver-failed');
    writeFileSync(flag, '');
    const second = await row(runDir(), store, script);
    expect(second).toMatchObject({ code: 0, status: 'complete' });
    const m = JSON.parse(objectsUnder(store)['_manifest.json']);
    const byPath = Object.fromEntries(m.outputs.map((o: { path: string; attempt: string }) => [o.path, o]));
    expect(Object.keys(byPath)).toEqual(['a.txt', 'b.txt', 'stray.bin']);
    expect(byPath['a.txt'].attempt).not.toBe(m.attempt); // the first attempt's, from its journal
    expect(byPath['b.txt'].attempt).toBe(m.attempt);
    expect(byPath['stray.bin']).toMatchObject({
      attempt: 'found there',
      sha256: createHash('sha256').update('put there by hand').digest('hex'),
    });
    expect(m.attempts).toHaveLength(2);
    const v = await verifyPrefix(store, OUT, { deep: true, anyStatus: false, concurrency: 2 });
    expect(v.findings).toEqual([]);
  });

  it('done is done: the row again, its prefix complete and whole: 0 at once, the solver not run', async () => {
    const store = new MemoryStore();
    store.put('in/params.txt', 'p=5\n');
    const marker = join(runDir(), 'ran');
    const script = `echo ran >> ${marker}; echo out > out.txt`;
    expect((await row(runDir(), store, script)).code).toBe(0);
    const puts = store.calls.filter((c) => c.startsWith('put ')).length;
    const dir = runDir();
    expect(await row(dir, store, script)).toMatchObject({ code: 0, status: 'complete' });
    expect(readFileSync(marker, 'utf8')).toBe('ran\n'); // once
    expect(store.calls.filter((c) => c.startsWith('put ')).length).toBe(puts); // nothing written
    expect(existsSync(join(dir, 'params.txt'))).toBe(false); // nothing downloaded
    expect((await row(runDir(), store, script, ['--rerun'])).code).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe('ran\nran\n'); // --rerun runs it again
  });
});
