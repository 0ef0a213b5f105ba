// Which store serves a Location: one line per store. A new store is a folder beside agent/s3/ with
// an `open…Store` function, and one entry in OPENERS.
import { SMALL_FILE, type S3Settings, type TransferSettings } from '../config.ts';
import type { Location, Scheme } from '../location.ts';
import type { Log } from '../log.ts';
import { ByteBudget } from './budget.ts';
import type { Store } from './store.ts';

export interface StoreSettings {
  s3: S3Settings;
  transfer: TransferSettings;
  env: NodeJS.ProcessEnv;
}

type Opener = (o: StoreSettings, budget: ByteBudget) => Promise<{ store: Store; secrets: string[] }>;

const OPENERS: Record<Scheme, Opener> = {
  s3: async (o, budget) => (await import('../s3/store.ts')).openS3Store(o.s3, o.transfer, budget, o.env),
};

/**
 * The stores a command talks to, opened on first use, sharing one memory pool: all transfer
 * buffers of all stores together never hold more than `transfer.memory` bytes. Every secret a
 * store was given is handed to the log's masker.
 */
export class Stores {
  /** The memory bound of all transfers: at most transfer.memory bytes in buffers. */
  readonly budget: ByteBudget;
  private readonly open = new Map<Scheme, Promise<Store>>();

  constructor(
    private readonly o: StoreSettings,
    private readonly log?: Log,
  ) {
    this.budget = new ByteBudget(o.transfer.memory, o.transfer.partSize, SMALL_FILE);
  }

  for(loc: Location): Promise<Store> {
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
