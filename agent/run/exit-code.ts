import { EXIT, signalExit } from '../errors.ts';

/** How a run ended, as far as its exit code is concerned. */
export interface Ending {
  manifestWritten: boolean;
  /** The signal that stopped the run (the first SIGTERM/SIGINT), if one did. */
  stoppedBy?: string;
  /** The cloud said the node goes away (an interruption notice): the platform's retry resumes the row. */
  preempted?: boolean;
  leaseLost: boolean;
  /** Files not verified in the store. */
  notUploaded: number;
  /** The exit code of the first failed upload (73, or 77 for access denied). */
  failedExit?: number;
  /** A file changed between the wipe's last check and its unlink (kept; manifest rewritten). */
  changedAtWipe: boolean;
  /** The prefix did not read back as the complete manifest says (`_SUCCESS` withheld, nothing wiped). */
  notWhole?: boolean;
  /** The solver's own code: its exit code, 128+N for a signal, 126 when it could not start. */
  solverExit: number;
}

/**
 * The exit-code policy of `ferry run`, in one place (README "Exit codes"): stopped by a signal first
 * (128+N, whatever the signal cut short), then preempted by an interruption notice (75: try again
 * elsewhere), then ferry's own failures — the manifest not written, the lease lost, files not
 * verified, the prefix not reading back whole, a file changed at the wipe — and only when ferry
 * itself succeeded, the solver's code.
 */
export function exitCode(e: Ending): number {
  if (e.stoppedBy) return signalExit(e.stoppedBy);
  if (e.preempted) return EXIT.busy;
  if (!e.manifestWritten) return EXIT.cantCreate;
  if (e.leaseLost) return EXIT.busy;
  if (e.notUploaded > 0) return e.failedExit ?? EXIT.cantCreate;
  if (e.notWhole) return EXIT.cantCreate;
  if (e.changedAtWipe) return EXIT.cantCreate;
  return e.solverExit;
}
