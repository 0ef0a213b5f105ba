import type { StoreConfig, TransferSettings } from '../config.ts';
import type { Log } from '../log.ts';
import type { Progress } from '../progress.ts';
import { Stores } from '../stores.ts';

/** What every command gets from the entry point. */
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

/** The stores of a command, with the settings from its flags; close them when done. */
export function openStores(ctx: CommandContext, stores: StoreConfig, transfer: TransferSettings): Stores {
  return new Stores({ ...stores, transfer, env: ctx.env }, ctx.log);
}
