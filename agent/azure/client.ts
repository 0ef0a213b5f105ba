import type { Agent, ClientRequest } from 'node:http';
import {
  AnonymousCredential,
  ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import type { AzureSettings } from '../config.ts';
import { EXIT, FerryError, usageError, type Phase } from '../errors.ts';
import type { Location } from '../location.ts';
import type { Network } from '../net/index.ts';
import type { AzureAuth, AzureCredentials } from './credentials.ts';

type Credential = NonNullable<Parameters<typeof newPipeline>[0]>;

/** Retries back off from this (doubling, with the SDK's jitter) up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 20_000;

/** The account and container of an az:// location (its bucket is `ACCOUNT/CONTAINER`). */
export function splitBucket(loc: Location): { account: string; container: string } {
  const [account, container] = loc.bucket.split('/');
  return { account, container };
}

/**
 * --timeout bounds silence, not duration (as for S3): a request whose socket carries no byte either
 * way for `ms` is destroyed with ETIMEDOUT, which the SDK's retry policy retries. Every request of
 * a Node agent passes through addRequest: this agent is the network's own (shared with every
 * store, so it is not changed) seen through an object that adds the timeout to Azure's requests.
 */
function withIdleTimeout<A extends Agent>(agent: A, ms: number): A {
  const add = (agent as unknown as { addRequest: (req: ClientRequest, o: unknown) => void }).addRequest.bind(agent);
  const view = Object.create(agent) as A;
  Object.assign(view, {
    addRequest(req: ClientRequest, o: unknown) {
      req.setTimeout(ms, () => {
        const err = new Error(`no byte in either direction for ${ms / 1000} s (ETIMEDOUT)`);
        req.destroy(Object.assign(err, { code: 'ETIMEDOUT' }));
      });
      add(req, o);
    },
  });
  return view;
}

/**
 * The SDK clients of one command: a container client per container (and per SAS, when a URI carries
 * one), all on the agents from the network decision (proxy, CA bundle), with ferry's retries and
 * idle timeout. The identity credential (service principal, managed identity) loads only when used.
 */
export class AzureClients {
  private readonly containers = new Map<string, ContainerClient>();
  private readonly agents: { http: Agent; https: Agent };
  private identity?: Promise<Credential>;

  constructor(
    private readonly creds: AzureCredentials,
    private readonly s: AzureSettings,
    private readonly net: Network,
  ) {
    this.agents = {
      http: withIdleTimeout(net.agents.httpAgent, s.idleTimeoutMs),
      https: withIdleTimeout(net.agents.httpsAgent, s.idleTimeoutMs),
    };
  }

  /** Where requests for this location go, for messages: the endpoint, and the proxy if one is used. */
  where(loc: Location): string {
    const endpoint = this.endpoint(loc);
    return [endpoint, this.net.describe(endpoint)].filter(Boolean).join(' ');
  }

  /** The agents are the network's: the command closes it once, for every store. */
  close(): void {}

  private endpoint(loc: Location): string {
    const { account } = splitBucket(loc);
    if (this.creds.account === account && this.creds.endpoint) return this.creds.endpoint;
    return `https://${account}.blob.core.windows.net`;
  }

  /** The client of a location's container, with the credentials that apply to it. */
  async container(loc: Location, phase: Phase): Promise<ContainerClient> {
    const id = `${loc.bucket}?${loc.token ?? ''}`;
    let c = this.containers.get(id);
    if (c) return c;
    const { account, container } = splitBucket(loc);
    const auth: AzureAuth = loc.token ? { kind: 'sas', token: loc.token } : this.creds.auth;
    this.checkAccount(account, auth, phase);
    const endpoint = this.endpoint(loc);
    await this.net.prepare(endpoint);
    const agent = endpoint.startsWith('https:') ? this.agents.https : this.agents.http;
    const options = {
      retryOptions: {
        maxTries: this.s.maxAttempts,
        retryDelayInMs: FIRST_BACKOFF_MS,
        maxRetryDelayInMs: MAX_BACKOFF_MS,
      },
      agent, // passed through to the core pipeline's agent policy (not in the storage options' type)
    } as StoragePipelineOptions;
    const sas = auth.kind === 'sas' ? `?${auth.token}` : '';
    const pipeline = newPipeline(await this.credential(auth, account), options);
    c = new ContainerClient(`${endpoint}/${container}${sas}`, pipeline);
    this.containers.set(id, c);
    return c;
  }

  /** A key or SAS is for one account: a URI naming another is a mistake worth stopping on. */
  private checkAccount(account: string, auth: AzureAuth, phase: Phase): void {
    if (auth.kind === 'none') {
      throw new FerryError(`no Azure credentials for storage account ${account}`, {
        phase,
        exitCode: EXIT.noPerm,
        hint:
          'set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY, or ' +
          'AZURE_STORAGE_SAS_TOKEN, or pass --azure-config FILE; on an Azure VM with a managed identity ' +
          'set AZURE_STORAGE_AUTH_MODE=login',
      });
    }
    const pinned = auth.kind === 'key' || (auth.kind === 'sas' && this.creds.auth === auth);
    if (pinned && this.creds.account && this.creds.account !== account)
      throw usageError(
        `the Azure credentials from ${this.creds.source} are for storage account ${this.creds.account}, ` +
          `the URI names ${account}`,
        'use credentials for the account the URI names (or fix the account in the URI)',
      );
  }

  private async credential(auth: AzureAuth, account: string): Promise<Credential> {
    if (auth.kind === 'key') return new StorageSharedKeyCredential(account, auth.key);
    if (auth.kind === 'sas' || auth.kind === 'none') return new AnonymousCredential();
    // The token requests go the Azure SDK's own way (HTTPS_PROXY / NO_PROXY from the environment),
    // as the AWS SDK's credential lookups do: the instance metadata endpoint is never proxied.
    this.identity ??= import('@azure/identity').then((id) =>
      auth.kind === 'service-principal'
        ? new id.ClientSecretCredential(auth.tenantId, auth.clientId, auth.clientSecret)
        : new id.ManagedIdentityCredential({ clientId: auth.clientId }),
    );
    return this.identity;
  }
}
