import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLogTail, readProgress } from '../../agent/doe/log-tail.ts';
import { EXIT } from '../../agent/errors.ts';
import { Log } from '../../agent/log.ts';
import { LeaseLost } from '../../agent/prefix/lease.ts';
import { RunLogCopy } from '../../agent/prefix/run-log.ts';
import { heartbeatLine } from '../../agent/transfer/heartbeat.ts';
import { MemoryStore } from '../helpers/memory-store.ts';
import { OUT, objectsUnder, quietLog, runDir } from '../helpers/unit-run.ts';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;

describe('the run log: the time on every line', () => {
  it("ferry's lines, their hint lines, details, the solver's lines and pieces: each line begins with the time", () => {
    const dir = runDir();
    const log = new Log({ quiet: true });
    log.attachFile(join(dir, 'ferry.log'));
    log.info('one line');
    log.error('a failure\n  hint: do this\n  and that');
    log.detail('uploaded a.dat (3 bytes), verified');
    log.solver('Cycle 1 of 4\nCycle 2 ', 'stdout');
    log.flushSolver(); // (as the pause before an unfinished line is shown does)
    log.info('ferry speaks mid-line'); // the solver's unfinished line goes on after it, on a line of its own
    log.solver('of 4\n', 'stdout');
    log.detachFile();
    const lines = readFileSync(join(dir, 'ferry.log'), 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) expect(line).toMatch(TIME);
    expect(lines.map((l) => l.replace(TIME, ''))).toEqual([
      'ferry: one line',
      'ferry: error: a failure',
      '  hint: do this',
      '  and that',
      'ferry:   uploaded a.dat (3 bytes), verified',
      'Cycle 1 of 4',
      'Cycle 2 ',
      'ferry: ferry speaks mid-line',
      'of 4',
    ]);
  });
});

describe('the heartbeat line', () => {
  const at = Date.parse('2026-12-02T01:00:00Z');
  it('says the solver time, files and bytes so far, the last upload and the lease renewal, in UTC', () => {
    const line = heartbeatLine(at + 3_725_000, {
      startedAt: at,
      uploads: () => ({ files: 12, bytes: 3 << 20, last: { rel: 'out/x.dat', at: at + 3_600_000 } }),
      leaseRenewal: () => at + 3_700_000,
    });
    expect(line).toBe(
      'heartbeat: solver running for 1 h 2 min; 12 file(s), 3.0 MiB uploaded so far, the last out/x.dat at ' +
        '2026-12-02T02:00:00Z; lease renewed at 2026-12-02T02:01:40Z',
    );
  });
  it('before any upload, and without live upload', () => {
    const o = { startedAt: at, leaseRenewal: () => at };
    expect(heartbeatLine(at + 5000, { ...o, uploads: () => ({ files: 0, bytes: 0 }) })).toBe(
      'heartbeat: solver running for 5.0 s; no file uploaded yet; lease renewed at 2026-12-02T01:00:00Z',
    );
    expect(heartbeatLine(at + 5000, o)).toContain('; no live upload (outputs go up when the solver ends); ');
  });
});

describe('RunLogCopy: the log so far in the prefix', () => {
  const puts = (s: MemoryStore) => s.calls.filter((c) => c.startsWith('put '));
  it('one PUT when the log grew, none when it did not', async () => {
    const store = new MemoryStore();
    const dir = runDir({ 'ferry.log': 'first\n' });
    const file = join(dir, 'ferry.log');
    const copy = new RunLogCopy({ store, prefix: OUT, file, log: quietLog(), fence: async () => {} });
    expect(await copy.update()).toBe(true);
    expect(await copy.update()).toBe(false);
    appendFileSync(file, 'second\n');
    expect(await copy.update()).toBe(true);
    expect(puts(store)).toEqual([`put ${OUT.key}_ferry.log`, `put ${OUT.key}_ferry.log`]);
    expect(objectsUnder(store)['_ferry.log']).toBe('first\nsecond\n');
  });
  it('a run that lost its lease writes nothing more (the fence says so before the PUT)', async () => {
    const store = new MemoryStore();
    const dir = runDir({ 'ferry.log': 'line\n' });
    const file = join(dir, 'ferry.log');
    let lost = false;
    const fence = async () => {
      if (lost) throw new LeaseLost('another attempt took the lease', { phase: 'upload', exitCode: EXIT.busy });
    };
    const copy = new RunLogCopy({ store, prefix: OUT, file, log: quietLog(), fence });
    expect(await copy.update()).toBe(true);
    lost = true;
    appendFileSync(file, 'more\n');
    expect(await copy.update()).toBe(false);
    lost = false; // even if the fence let it by now: a lost lease stays lost
    appendFileSync(file, 'more\n');
    expect(await copy.update()).toBe(false);
    expect(puts(store)).toHaveLength(1);
    expect(objectsUnder(store)['_ferry.log']).toBe('line\n');
  });
});

describe("doe status's reading of a timed log", () => {
  const call = { phase: 'download' as const };
  it('leaves out detail lines past their time, finds the last heartbeat however many solver lines follow', async () => {
    const store = new MemoryStore();
    const t = '2026-12-02T01:00:00Z ';
    const lines = [
      `${t}ferry: heartbeat: solver running for 5.0 s; no file uploaded yet; lease renewed at x`,
      `${t}ferry:   uploaded a.dat (3 bytes), verified`,
      `${t}ferry: heartbeat: solver running for 10.0 s; 1 file(s), 3 B uploaded so far`,
      ...Array.from({ length: 3000 }, (_, i) => `${t}Cycle ${i}`),
    ];
    store.put(`${OUT.key}_ferry.log`, `${lines.join('\n')}\n`);
    expect(await readProgress(store, OUT, call)).toBe(lines[2]);
    const tail = await readLogTail(store, OUT, call);
    expect(tail).toEqual(lines.slice(-25));
    store.put(`${OUT.key}_ferry.log`, `${lines.slice(0, 2).join('\n')}\n`);
    expect(await readLogTail(store, OUT, call)).toEqual([lines[0]]);
    store.put(`${OUT.key}_ferry.log`, `${t}ferry: launching\n${t}Cycle 1\n`);
    expect(await readProgress(store, OUT, call)).toBe(`${t}Cycle 1`); // no heartbeat yet: the last line
  });

  it('a log the running row replaced between the listing and a read is read again from its end', async () => {
    const store = new MemoryStore();
    const t = '2026-12-02T01:00:00Z ';
    const log = (n: number) =>
      [
        `${t}ferry: heartbeat: solver running for ${n}.0 s; no file uploaded yet; lease renewed at x`,
        ...Array.from({ length: 3000 }, (_, i) => `${t}Cycle ${i}`),
      ].join('\n') + '\n';
    store.put(`${OUT.key}_ferry.log`, log(5));
    let beats = 0;
    store.onRead = (key) => {
      if (beats++ < 2) store.put(key, log(5 + 5 * beats)); // a heartbeat uploads it anew, twice
    };
    expect(await readProgress(store, OUT, call)).toBe(
      `${t}ferry: heartbeat: solver running for 15.0 s; no file uploaded yet; lease renewed at x`,
    );
    store.onRead = (key) => store.put(key, log(20 + beats++)); // replaced at every read: an error, no endless loop
    await expect(readProgress(store, OUT, call)).rejects.toThrow(/changed while it was downloaded/);
  });
});
