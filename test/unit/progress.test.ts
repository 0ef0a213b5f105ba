import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Log } from '../../agent/log.ts';
import { PhaseProgress, Progress } from '../../agent/transfer/progress.ts';

describe('progress', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('describes a phase: bytes of total, percent, files, rate', () => {
    const p = new PhaseProgress('download', 1000, 4);
    p.addBytes(250);
    p.addFile();
    expect(p.describe()).toMatch(/^download 250 B of 1000 B \(25%\), 1\/4 files, .*\/s/);
    expect(p.bar(4)).toBe('[#---] ');
  });

  it('without a terminal, prints one line per phase at most every interval, none after the end', () => {
    vi.useFakeTimers();
    const lines: Array<{ at: number; msg: string; fields: Record<string, unknown> }> = [];
    const log = {
      tty: false,
      progress: (msg: string, fields: Record<string, unknown>) => lines.push({ at: Date.now(), msg, fields }),
      setStatus: () => {},
    } as unknown as Log;
    const t0 = Date.now();
    const progress = new Progress(log, 1500);
    const p = progress.start('upload', { bytes: 100 });
    p.addBytes(10);
    vi.advanceTimersByTime(1499);
    expect(lines).toEqual([]); // not before the first interval is over
    vi.advanceTimersByTime(10_000 - 1499);
    // Checked every second: a line once 1.5 s have passed since the last, so at 2, 4, 6, 8 and 10 s.
    expect(lines.map((l) => l.at - t0)).toEqual([2000, 4000, 6000, 8000, 10_000]);
    expect(lines[0].fields).toMatchObject({ phase: 'upload', bytes: 10, total_bytes: 100 });
    progress.end(p);
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(5);
    expect(progress.done).toEqual([p]);
  });

  it('a phase started with lines: false (the live upload: the heartbeat speaks for it) prints no line', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const log = { tty: false, progress: (msg: string) => lines.push(msg), setStatus: () => {} } as unknown as Log;
    const progress = new Progress(log, 1500);
    const live = progress.start('live upload', {}, { lines: false });
    const down = progress.start('download', { bytes: 100 });
    live.addBytes(10);
    vi.advanceTimersByTime(10_000);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.startsWith('download '))).toBe(true);
    progress.end(live);
    progress.end(down);
  });
});
