import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claim } from '../../agent/prefix/claim.ts';
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
});
