import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, processTable } from '../../agent/solver/process-tree.ts';
import { RunProcesses } from '../../agent/solver/run-processes.ts';

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('the leftovers of a run', () => {
  it('are named as they run now, not as they were seen before their exec', async () => {
    const procs = RunProcesses.start(() => {});
    const mark = `m${process.pid}${Date.now()}`;
    const c = spawn('sh', ['-c', 'sleep 0.3; exec sleep 30'], { env: { ...process.env, TEST_RUN_MARK: mark } });
    children.push(c);
    const start = processTable().get(c.pid!)!.start;
    // As the launcher's watch saw it before the exec.
    const seen = [{ pid: c.pid!, start, command: 'sh -c sleep 0.3; exec sleep 30' }];
    await sleep(800);
    const left = procs.leftovers('TEST_RUN_MARK', mark, seen, isAlive);
    expect(left.map((p) => [p.pid, p.command])).toEqual([[c.pid, 'sleep 30']]);
  });
});
