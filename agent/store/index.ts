// Which store serves a Location: one line per store. A new store is a folder beside agent/s3/ with
// an `open…Store` function, and one entry in OPENERS.
import type { AzureSettings, S3Settings, TransferSettings } from '../config.ts';
import type { Location, Scheme } from '../location.ts';
import type { Log } from '../log.ts';
import { tokenSecrets } from '../secrets.ts';
import { ByteBudget } from './budget.ts';
import type { Store } from './store.ts';

export interface StoreSettings {
  s3: S3Settings;
  azure: AzureSettings;
  transfer: TransferSettings;
  env: NodeJS.ProcessEnv;
}

type Opener = (o: StoreSettings, budget: ByteBudget) => Promise<{ store: Store; secrets: string[] }>;

const OPENERS: Record<Scheme, Opener> = {
  s3: async (o, budget) => (await import('../s3/store.ts')).openS3Store(o.s3, o.transfer, budget, o.env),
  az: async (o, budget) => (await import('../azure/store.ts')).openAzureStore(o.azure, o.transfer, budget, o.env),
};

/**
 * The stores a command talks to, opened on first use, sharing one memory pool: all transfer
 * buffers of all stores together never hold more than `transfer.memory` bytes. Every secret a
 * store was given, and every token a location carries (an Azure SAS), is handed to the log's masker.
 */
export class Stores {
  /** The memory bound of all transfers: at most transfer.memory bytes in buffers. */
  readonly budget: ByteBudget;
  private readonly open = new Map<Scheme, Promise<Store>>();

  constructor(
    private readonly o: StoreSettings,
    private readonly log?: Log,
  ) {
    this.budget = new ByteBudget(o.transfer.memory, o.transfer.partSize);
  }

  for(loc: Location): Promise<Store> {
    if (loc.token) this.log?.masker.add(...tokenSecrets(loc.token));
    let s = this.open.get(loc.scheme);
    if (!s) {
      s = OPENERS[loc.scheme](this.o, this.budget).then(({ store, secrets }) => {
        this.log?.masker.add(...secrets);
        return store;
      });
      this.open.set(loc.scheme, s);
    }
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.open.values()) (await s.catch(() => undefined))?.close();
  }
}
