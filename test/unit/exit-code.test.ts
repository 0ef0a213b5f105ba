import { describe, expect, it } from 'vitest';
import { exitCode, type Ending } from '../../agent/run/exit-code.ts';

describe('the exit-code policy', () => {
  const ok: Ending = { manifestWritten: true, leaseLost: false, notUploaded: 0, changedAtWipe: false, solverExit: 0 };
  it.each([
    ['all well, solver 0', {}, 0],
    ['all well, solver 3', { solverExit: 3 }, 3],
    ['solver killed by SIGKILL', { solverExit: 137 }, 137],
    ['solver could not start', { solverExit: 126 }, 126],
    ['manifest not written', { manifestWritten: false, solverExit: 3 }, 73],
    [
      'a signal beats the manifest not written (it cut the run short)',
      { manifestWritten: false, stoppedBy: 'SIGTERM' },
      143,
    ],
    ['stopped by SIGTERM', { stoppedBy: 'SIGTERM', notUploaded: 2 }, 143],
    ['stopped by SIGINT', { stoppedBy: 'SIGINT' }, 130],
    ['lease lost', { leaseLost: true, notUploaded: 1 }, 75],
    ['files not verified', { notUploaded: 1 }, 73],
    ['files not verified, access denied', { notUploaded: 1, failedExit: 77, solverExit: 3 }, 77],
    ['a file changed at the wipe', { changedAtWipe: true }, 73],
  ] as Array<[string, Partial<Ending>, number]>)('%s → %i', (_what, e, code) => {
    expect(exitCode({ ...ok, ...e })).toBe(code);
  });
});
