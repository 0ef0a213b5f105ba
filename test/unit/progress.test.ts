import { describe, expect, it } from 'vitest';
import type { Log } from '../../agent/log.ts';
import { PhaseProgress, Progress } from '../../agent/transfer/progress.ts';

describe('progress', () => {
  it('describes a phase: bytes of total, percent, files, rate', () => {
    const p = new PhaseProgress('download', 1000, 4);
    p.addBytes(250);
    p.addFile();
    expect(p.describe()).toMatch(/^download 250 B of 1000 B \(25%\), 1\/4 files, .*\/s/);
    expect(p.bar(4)).toBe('[#---] ');
  });
  it('without a terminal, prints one line per phase at most every interval, none after the end', async () => {
    const lines: Array<{ msg: string; fields: Record<string, unknown> }> = [];
    const log = {
      tty: false,
      progress: (msg: string, fields: Record<string, unknown>) => lines.push({ msg, fields }),
      setStatus: () => {},
    } as unknown as Log;
    const progress = new Progress(log, 1500);
    const p = progress.start('upload', { bytes: 100 });
    p.addBytes(10);
    await new Promise((r) => setTimeout(r, 3300));
    progress.end(p);
    const n = lines.length;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(2);
    expect(lines[0].fields).toMatchObject({ phase: 'upload', bytes: 10, total_bytes: 100 });
    await new Promise((r) => setTimeout(r, 1600));
    expect(lines.length).toBe(n);
    expect(progress.done).toEqual([p]);
  });
});
