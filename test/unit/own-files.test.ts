import { describe, expect, it } from 'vitest';
import { tempName, tempToken } from '../../agent/names.ts';
import { OwnFiles } from '../../agent/rundir/own-files.ts';

describe("ferry's own files", () => {
  it('its temp names carry the row’s token; a solver’s look-alikes are not its own', () => {
    const own = OwnFiles.forRun('run-id-1', new Set(['console.txt']));
    const again = OwnFiles.forRun('run-id-1');
    expect(again.token).toBe(own.token); // every attempt of the row
    const tmp = own.temp('/run/res/mesh.dat');
    expect(tmp).toMatch(new RegExp(`^/run/res/mesh\\.dat\\.ferry-${own.token}-0$`));
    expect(own.pending).toBe(1);
    own.gone(tmp);
    expect(own.pending).toBe(0);
    for (const mine of ['ferry.log', '.ferry-state.json', '.ferry-lock', 'console.txt', `a/b.ferry-${own.token}-7`])
      expect(own.isOwn(mine), mine).toBe(true);
    for (const theirs of ['res/data.ferry-part', '.ferry-input-mesh', 'x.ferry-0123456789ab-0', 'sub/ferry.log'])
      expect(own.isOwn(theirs), theirs).toBe(false);
    expect(own.removable('.ferry-state.json')).toBe(true);
    expect(own.removable('console.txt')).toBe(false);
    expect(own.removable('ferry.log')).toBe(false);
  });
  it('a long name is shortened in its temp name (under NAME_MAX)', () => {
    const t = tempName(`/d/${'x'.repeat(250)}`, '0123456789ab', 3);
    expect(t).toBe('/d/file.ferry-0123456789ab-3');
    expect(tempToken(t)).toBe('0123456789ab');
  });
});
