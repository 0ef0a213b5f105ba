import type { Log } from './log.ts';
import type { Progress } from './transfer/progress.ts';

/** What every command gets from the entry point (agent/cli.ts), and what a run's stages share of it. */
export interface CommandContext {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: Log;
  progress: Progress;
  /** Aborted on the first SIGINT/SIGTERM: stop the solver and downloads, still upload. */
  stop: AbortSignal;
  /** Aborted on the second signal: stop transfers too. */
  hardStop: AbortSignal;
}
