import type { StoreConfig, TransferSettings } from '../config.ts';
import type { CommandContext } from '../context.ts';
import { Stores } from '../stores.ts';

export type { CommandContext };

/** The stores of a command, with the settings from its flags; close them when done. */
export function openStores(ctx: CommandContext, stores: StoreConfig, transfer: TransferSettings): Stores {
  return new Stores({ ...stores, transfer, env: ctx.env }, ctx.log);
}
