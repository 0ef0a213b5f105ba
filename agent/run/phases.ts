import { exitCode } from './exit-code.ts';
import type { Run, RunPhase } from './context.ts';
import { fetch } from './fetch.ts';
import { launch } from './launch.ts';
import { manifest, solverExit } from './manifest.ts';
import { prepare } from './prepare.ts';
import { sweep } from './sweep.ts';
import { watch } from './watch.ts';
import { wipe } from './wipe.ts';

/** `ferry run`, in the order it happens. */
export const RUN_PHASES: RunPhase[] = [prepare, fetch, launch, watch, sweep, manifest, wipe];

/** Runs every phase (or, for --dry-run, describes each) and returns the exit code. */
export async function runPhases(r: Run, phases = RUN_PHASES): Promise<number> {
  for (const p of phases) {
    if (r.dry) await p.dry?.(r);
    else await p.run(r);
  }
  if (r.dry) return 0;
  return exitCode({
    manifestWritten: r.manifestWritten === true,
    stoppedBy: r.ctx.stop.aborted
      ? ((r.ctx.stop.reason as { signal?: string } | undefined)?.signal ?? 'SIGTERM')
      : undefined,
    leaseLost: r.need('lease').lost,
    notUploaded: r.need('verdict').notUploaded.size,
    failedExit: r.need('verdict').failedExit,
    changedAtWipe: (r.changedAtWipe ?? []).length > 0,
    solverExit: solverExit(r),
  });
}
