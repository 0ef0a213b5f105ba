import type { RunConfig } from '../config.ts';
import type { CommandContext } from '../context.ts';
import type { Log } from '../log.ts';
import type { Store } from '../store/store.ts';
import type { Stores } from '../stores.ts';

/** What every stage of `ferry run` works with: the row's settings, the command's context, the stores. */
export interface Row {
  readonly cfg: RunConfig;
  readonly ctx: CommandContext;
  readonly stores: Stores;
  /** The store of the output prefix. */
  readonly output: Store;
  readonly log: Log;
  readonly startedAt: Date;
}

export async function openRow(cfg: RunConfig, ctx: CommandContext, stores: Stores): Promise<Row> {
  return { cfg, ctx, stores, output: await stores.for(cfg.output), log: ctx.log, startedAt: new Date() };
}
