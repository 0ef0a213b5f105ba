import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claim } from '../../agent/prefix/claim.ts';
import { journalRemoval } from '../../agent/prefix/journal.ts';
import type { Manifest } from '../../agent/prefix/manifest.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { OUT, objectsUnder, quietLog, runDir } from '../helpers/unit-run.ts';

const manifest = (status: Manifest['status']): Manifest => ({
  ferry: 'ferry test',
  run_id: 'r1',
  status,
  started_at: '2026-12-01T00:00:00.000Z',
  ended_at: '2026-12-01T00:01:00.000Z',
  inputs: [],
  solver: { argv: ['true'], exit_code: 0, signal: null },
  outputs: [],
  not_uploaded: [],
  kept: [],
});

describe('the claim: manifest → run log → _SUCCESS', () => {
  it('a complete run writes the three in that order, _SUCCESS last', async () => {
    const store = new MemoryStore();
    const dir = runDir({ 'ferry.log': 'ferry: the log\n' });
    const ok = await claim(store, OUT, manifest('complete'), { logFile: join(dir, 'ferry.log'), log: quietLog() });
    expect(ok.written).toBe(true);
    const puts = store.calls.filter((c) => c.startsWith('put ')).map((c) => c.slice(4 + OUT.key.length));
    expect(puts).toEqual(['_manifest.json', '_ferry.log', '_SUCCESS']);
    expect(JSON.parse(objectsUnder(store)['_manifest.json']).status).toBe('complete');
    expect(objectsUnder(store)['_ferry.log']).toBe('ferry: the log\n');
  });

  it.each(['incomplete', 'solver-failed'] as const)('a %s run writes no _SUCCESS', async (status) => {
    const store = new MemoryStore();
    const dir = runDir({ 'ferry.log': 'x\n' });
    expect(
      await claim(store, OUT, manifest(status), { logFile: join(dir, 'ferry.log'), log: quietLog() }),
    ).toMatchObject({ written: true, status });
    expect(Object.keys(objectsUnder(store)).sort()).toEqual(['_ferry.log', '_manifest.json']);
  });

  it('a manifest the store refuses: false, and no _SUCCESS claims what is not written', async () => {
    const store = new MemoryStore();
    store.putBytes = async () => {
      throw Object.assign(new Error('access denied'), { name: 'FerryError' });
    };
    const dir = runDir({ 'ferry.log': 'x\n' });
    expect(
      await claim(store, OUT, manifest('complete'), { logFile: join(dir, 'ferry.log'), log: quietLog() }),
    ).toMatchObject({ written: false });
    expect(objectsUnder(store)).toEqual({});
  });

  it('a run log that cannot be uploaded is a warning: the claim still holds', async () => {
    const store = new MemoryStore();
    const dir = runDir();
    const ok = await claim(store, OUT, manifest('complete'), { logFile: join(dir, 'no-such.log'), log: quietLog() });
    expect(ok.written).toBe(true);
    expect(Object.keys(objectsUnder(store)).sort()).toEqual(['_SUCCESS', '_manifest.json']);
  });
  describe("the row's journal", () => {
    const journaled = () => {
      const store = new MemoryStore();
      store.put(`${OUT.key}_ferry.journal/a1/000000.json`, '{"attempt":"a1","entries":[]}');
      store.put(`${OUT.key}out/result.txt`, 'r');
      return store;
    };
    const tidy = (store: MemoryStore) => () => journalRemoval(store, OUT, { phase: 'upload' }, quietLog());
    const m = (outputs: Manifest['outputs']): Manifest => ({ ...manifest('complete'), outputs });
    const listed = (store: MemoryStore, key: string) => store.calls.indexOf(`list ${key}`);

    it('is listed beside the read-back, and removed before _SUCCESS once the prefix reads back whole', async () => {
      const store = journaled();
      const dir = runDir({ 'ferry.log': 'x\n' });
      const outputs = [
        { path: 'out/result.txt', size: 1, sha256: '', etag: store.objects.get(`${OUT.key}out/result.txt`)!.etag },
      ];
      const ok = await claim(store, OUT, m(outputs), {
        logFile: join(dir, 'ferry.log'),
        log: quietLog(),
        tidy: tidy(store),
      });
      expect(ok).toMatchObject({ written: true, status: 'complete' });
      expect(Object.keys(objectsUnder(store)).sort()).toEqual([
        '_SUCCESS',
        '_ferry.log',
        '_manifest.json',
        'out/result.txt',
      ]);
      // (the read-back lists the whole prefix: the journal's listing was asked first, not after it)
      expect(listed(store, `${OUT.key}_ferry.journal/`)).toBeGreaterThan(-1);
      expect(listed(store, `${OUT.key}_ferry.journal/`)).toBeLessThan(listed(store, OUT.key));
      const removed = store.calls.findIndex((c) => c.includes('_ferry.journal/a1/000000.json'));
      expect(removed).toBeLessThan(store.calls.indexOf(`put ${OUT.key}_SUCCESS`));
    });

    it('stays when the prefix does not read back whole (no _SUCCESS: nothing the row has learnt goes)', async () => {
      const store = journaled();
      const dir = runDir({ 'ferry.log': 'x\n' });
      const outputs = [{ path: 'out/gone.txt', size: 1, sha256: '', etag: 'x' }];
      const ok = await claim(store, OUT, m(outputs), {
        logFile: join(dir, 'ferry.log'),
        log: quietLog(),
        tidy: tidy(store),
      });
      expect(ok).toMatchObject({ written: true, status: 'incomplete' });
      expect(Object.keys(objectsUnder(store)).sort()).toEqual([
        '_ferry.journal/a1/000000.json',
        '_ferry.log',
        '_manifest.json',
        'out/result.txt',
      ]);
    });
  });
});
