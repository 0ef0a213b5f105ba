// What a store is opened with (agent/stores.ts calls each store's opener with these): the settings of
// every store, the one memory pool, the one network, and a way to tell the command what it learns.
import type { AzureSettings, NetSettings, S3Settings, TransferSettings } from '../config.ts';
import type { Network } from '../net/index.ts';
import type { ByteBudget } from './budget.ts';
import type { Store } from './store.ts';

export interface StoreSettings {
  s3: S3Settings;
  azure: AzureSettings;
  net: NetSettings;
  transfer: TransferSettings;
  env: NodeJS.ProcessEnv;
}

/** A connection that is not up after this long is abandoned (and retried). */
export const CONNECT_TIMEOUT_MS = 10_000;

/** What a store may tell the command while it works: secrets it learns later (renewed credentials), notes. */
export interface StoreNotes {
  mask(secrets: string[]): void;
  info(msg: string): void;
  warn(msg: string): void;
}

/** A store's opener: the store, and the secrets it was given (for the log's masker). */
export type Opener = (
  o: StoreSettings,
  budget: ByteBudget,
  net: Network,
  notes: StoreNotes,
) => Promise<{ store: Store; secrets: string[] }>;
