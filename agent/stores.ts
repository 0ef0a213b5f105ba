// The registry of stores: which store serves a Location, one line per store, and the only module that
// imports agent/s3/ and agent/azure/ (lazily: a command loads the SDK of the stores it uses). What
// the stores share is the seam, agent/store/. A new store is a folder beside agent/s3/ with an
// opener, and one entry in OPENERS.
import { SMALL_FILE } from './config.ts';
import { FerryError } from './errors.ts';
import type { Location, Scheme } from './location.ts';
import type { Log } from './log.ts';
import type { Network } from './net/index.ts';
import { tokenSecrets } from './secrets.ts';
import { ByteBudget } from './store/budget.ts';
import { CONNECT_TIMEOUT_MS, type Opener, type StoreNotes, type StoreSettings } from './store/open.ts';
import type { Store } from './store/store.ts';

const OPENERS: Record<Scheme, Opener> = {
  s3: async (o, budget, net, notes) =>
    (await import('./s3/open.ts')).openS3Store(o.s3, o.transfer, budget, o.env, net, notes),
  az: async (o, budget, net) =>
    (await import('./azure/store.ts')).openAzureStore(o.azure, o.transfer, budget, o.env, net),
};

/**
 * The stores a command talks to, opened on first use, sharing one memory pool (all transfer
 * buffers of all stores together never hold more than `transfer.memory` bytes) and one network
 * (proxy, PAC fetched once, proxy account, CA: agent/net/). Every secret a store or the network
 * was given, and every token a location carries (an Azure SAS), is handed to the log's masker.
 */
export class Stores {
  /** The memory bound of all transfers: at most transfer.memory bytes in buffers. */
  readonly budget: ByteBudget;
  private readonly open = new Map<Scheme, Promise<Store>>();
  private net?: Promise<Network>;

  constructor(
    private readonly o: StoreSettings,
    private readonly log?: Log,
  ) {
    this.budget = new ByteBudget(o.transfer.memory, o.transfer.partSize, SMALL_FILE);
    if (o.transfer.descriptorNote) log?.warn(o.transfer.descriptorNote);
  }

  /** The network of this command: opened once, shared by every store. */
  network(): Promise<Network> {
    this.net ??= import('./net/index.ts').then(async ({ openNetwork, explainNetError }) => {
      const t = this.o.transfer;
      const net = await openNetwork({
        ...this.o.net,
        env: this.o.env,
        // every request in flight (the SDK queues silently past maxSockets): parts, small files, a few more
        maxSockets: t.filesInFlight * t.partsPerFile * 2 + t.smallInFlight + 4,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        idleTimeoutMs: this.o.s3.idleTimeoutMs,
        warn: (msg) => this.log?.warn(msg),
        info: (msg) => this.log?.info(msg),
      }).catch((err) => {
        const said = explainNetError(err);
        if (!said) throw err;
        throw new FerryError(said.says, { phase: 'config', exitCode: said.exitCode, hint: said.hint, cause: err });
      });
      this.log?.masker.add(...net.secrets);
      return net;
    });
    return this.net;
  }

  private readonly notes: StoreNotes = {
    mask: (secrets) => this.log?.masker.add(...secrets),
    info: (msg) => this.log?.info(msg),
    warn: (msg) => this.log?.warn(msg),
  };

  for(loc: Location): Promise<Store> {
    if (loc.token) this.log?.masker.add(...tokenSecrets(loc.token));
    let s = this.open.get(loc.scheme);
    if (!s) {
      s = this.network()
        .then((net) => OPENERS[loc.scheme](this.o, this.budget, net, this.notes))
        .then(({ store, secrets }) => {
          this.log?.masker.add(...secrets);
          return store;
        });
      this.open.set(loc.scheme, s);
    }
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.open.values()) (await s.catch(() => undefined))?.close();
    (await this.net?.catch(() => undefined))?.destroy();
  }
}
