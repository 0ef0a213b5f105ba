import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { BlobItem, ContainerClient } from '@azure/storage-blob';
import type { AzureSettings, TransferSettings } from '../config.ts';
import type { Network } from '../net/index.ts';
import { formatUri, type Location } from '../location.ts';
import { BatchVerifier, type Seen, type VerifySource } from '../store/batch-verify.ts';
import { changedWhen } from '../store/changed.ts';
import type { ByteBudget } from '../store/budget.ts';
import { guarded } from '../store/rules.ts';
import { partSizeFor } from '../store/parts.ts';
import type {
  Call,
  Fetched,
  ObjectInfo,
  PutBytesOptions,
  PutFileOptions,
  Store,
  Uploaded,
  Verdict,
} from '../store/store.ts';
import { AZURE_TERMS } from './terms.ts';
import { AzureClients } from './client.ts';
import { azureCredentials } from './credentials.ts';
import { azureCode, azureStatus, classifyAzureError } from './errors.ts';
import { readBlobRange } from './read.ts';
import { bare, MAX_BLOCK, MAX_BLOCKS, uploadBlob } from './upload.ts';

/** A blob's Content-MD5 as ferry's digest (hex); undefined when the blob has none. */
const md5hex = (md5: Uint8Array | undefined) => (md5 && md5.length ? Buffer.from(md5).toString('hex') : undefined);

/** What Get Blob Properties, a listing and a download each say of a blob. */
interface Props {
  contentLength?: number;
  etag?: string;
  contentMD5?: Uint8Array;
  lastModified?: Date;
}

const info = (key: string, p: Props): ObjectInfo => ({
  key,
  size: p.contentLength ?? 0,
  etag: bare(p.etag),
  digest: md5hex(p.contentMD5),
  modified: p.lastModified,
});

/** A write refused by its condition: If-Match (412 ConditionNotMet) or If-None-Match: * (409, measured on Azurite). */
const isPrecondition = (err: unknown) =>
  azureStatus(err) === 412 || (azureStatus(err) === 409 && azureCode(err) === 'BlobAlreadyExists');
const isNoBlob = (err: unknown) => azureStatus(err) === 404 && azureCode(err) !== 'ContainerNotFound';

/**
 * The Store over Azure Blob Storage (block blobs): ranged parallel reads pinned to the ETag, uploads
 * through the shared memory pool with Content-MD5 on every block and on the blob, verification by
 * size + Content-MD5 from a listing (or Get Blob Properties), conditional writes on the ETag. Each
 * failure is classified once, here, into the same exit codes as S3's.
 */
export class AzureStore implements Store {
  readonly terms = AZURE_TERMS;
  private readonly verifiers = new Map<string, BatchVerifier>();

  constructor(
    private readonly clients: AzureClients,
    private readonly t: TransferSettings,
    private readonly budget: ByteBudget,
    private readonly maxAttempts: number,
  ) {}

  get where(): string {
    return 'Azure Blob Storage';
  }

  private guard<T>(op: string, loc: Location, call: Call, fn: (c: ContainerClient) => Promise<T>): Promise<T> {
    return guarded(
      call,
      async () => fn(await this.clients.container(loc, call.phase)),
      (err) =>
        classifyAzureError(err, {
          phase: call.phase,
          op: call.what ?? op,
          target: formatUri(loc),
          where: this.clients.where(loc),
        }),
    );
  }

  head(loc: Location, call: Call): Promise<ObjectInfo> {
    const op = call.phase === 'download' ? 'reading the input blob' : 'reading a blob';
    return this.guard(op, loc, call, async (c) =>
      info(loc.key, await c.getBlobClient(loc.key).getProperties({ abortSignal: call.signal })),
    );
  }

  list(prefix: Location, call: Call): Promise<ObjectInfo[]> {
    const op = call.phase === 'download' ? 'listing the input prefix' : 'listing the prefix';
    return this.guard(op, prefix, call, async (c) => {
      const out: ObjectInfo[] = [];
      for await (const b of this.pages(c, prefix.key, '', call.signal)) if (!b.key.endsWith('/')) out.push(b);
      return out;
    });
  }

  /** Blobs under `prefix` after `startAfter`, in name order (startFrom where the server knows it). */
  private async *pages(c: ContainerClient, prefix: string, startAfter: string, signal?: AbortSignal, pageSize = 1000) {
    const opts = { prefix, abortSignal: signal, ...(startAfter ? { startFrom: startAfter } : {}) };
    for await (const page of c.listBlobsFlat(opts).byPage({ maxPageSize: pageSize })) {
      for (const b of page.segment.blobItems as BlobItem[]) if (b.name > startAfter) yield info(b.name, b.properties);
    }
  }

  read(
    loc: Location,
    etag: string,
    range: [number, number],
    call: Call,
    onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
  ): Promise<void> {
    const o = { attempts: this.maxAttempts, signal: call.signal };
    return this.guard('downloading the input', loc, call, (c) =>
      readBlobRange(c.getBlobClient(loc.key), loc, etag, range, o, onChunk).catch(
        changedWhen((err) => azureStatus(err) === 412, formatUri(loc)),
      ),
    );
  }

  fetch(loc: Location, call: Call): Promise<Fetched | undefined> {
    return this.guard('reading a blob', loc, call, async (c) => {
      try {
        const r = await c.getBlobClient(loc.key).download(0, undefined, { abortSignal: call.signal });
        const parts: Buffer[] = [];
        for await (const chunk of r.readableStreamBody as AsyncIterable<Buffer>) parts.push(chunk);
        const body = Buffer.concat(parts);
        // The response's fields are getters: named one by one (a spread would copy none).
        const props = {
          contentLength: body.length,
          etag: r.etag,
          contentMD5: r.blobContentMD5,
          lastModified: r.lastModified,
        };
        return { body, info: info(loc.key, props), serverDate: r.date };
      } catch (err) {
        if (isNoBlob(err)) return undefined;
        throw err;
      }
    });
  }

  /** --part-size (at most Azure's 4000 MiB per block), grown to stay within 50,000 blocks. */
  private blockFor(size: number): number {
    return partSizeFor(size, Math.min(this.t.partSize, MAX_BLOCK), MAX_BLOCKS);
  }

  partFor(size: number): number {
    return Math.min(size, this.blockFor(size));
  }

  putFile(file: string, size: number, dest: Location, o: PutFileOptions): Promise<Uploaded> {
    return this.guard('upload', dest, o, (c) =>
      uploadBlob(c.getBlockBlobClient(dest.key), file, size, dest, {
        partSize: this.blockFor(size),
        partsPerFile: this.t.partsPerFile,
        budget: this.budget,
        signal: o.signal,
        meter: o.meter,
        sha256: o.sha256,
        contentType: o.contentType,
      }),
    );
  }

  putBytes(dest: Location, body: Buffer, o: PutBytesOptions): Promise<Uploaded | undefined> {
    return this.guard(`writing ${dest.key.slice(dest.key.lastIndexOf('/') + 1)}`, dest, o, async (c) => {
      const md5 = createHash('md5').update(body).digest();
      const conditions = o.ifAbsent ? { ifNoneMatch: '*' } : o.ifEtag ? { ifMatch: `"${o.ifEtag}"` } : undefined;
      try {
        const r = await c.getBlockBlobClient(dest.key).upload(body, body.length, {
          abortSignal: o.signal,
          conditions,
          blobHTTPHeaders: { blobContentMD5: md5, blobContentType: o.contentType },
        });
        return { loc: dest, size: body.length, digest: md5.toString('hex'), etag: bare(r.etag) };
      } catch (err) {
        if (isPrecondition(err)) return undefined;
        throw err;
      }
    });
  }

  remove(loc: Location, call: Call & { ifEtag?: string }): Promise<boolean> {
    return this.guard('deleting', loc, call, async (c) => {
      const conditions = call.ifEtag !== undefined ? { ifMatch: `"${call.ifEtag}"` } : undefined;
      try {
        await c.getBlobClient(loc.key).delete({ abortSignal: call.signal, conditions });
        return true;
      } catch (err) {
        if (isPrecondition(err)) return false;
        if (isNoBlob(err)) return call.ifEtag === undefined; // already gone; not ours to claim otherwise
        throw err;
      }
    });
  }

  verify(up: Uploaded, call: Call): Promise<Verdict> {
    return this.guard('verifying the upload', up.loc, call, async (c) => {
      let v = this.verifiers.get(up.loc.bucket);
      if (!v) {
        v = new BatchVerifier(this.verifySource(c), { where: 'Azure', digest: 'Content-MD5' }, call.signal);
        this.verifiers.set(up.loc.bucket, v);
      }
      return v.verify(up);
    });
  }

  private verifySource(c: ContainerClient): VerifySource {
    return {
      head: async (key, signal): Promise<Seen> => {
        const p = await c.getBlobClient(key).getProperties({ abortSignal: signal });
        return { size: p.contentLength ?? -1, digest: md5hex(p.contentMD5) };
      },
      list: (prefix, startAfter, signal, pageSize) => this.pages(c, prefix, startAfter, signal, pageSize),
    };
  }

  /** The MD5 Azure shows as Content-MD5 once ferry uploaded the file (whatever the blocks), and its SHA-256. */
  async fingerprint(file: string, _size: number, signal?: AbortSignal): Promise<{ digest: string; sha256: string }> {
    const md5 = createHash('md5');
    const sha = createHash('sha256');
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024, signal }) as AsyncIterable<Buffer>) {
      md5.update(chunk);
      sha.update(chunk);
    }
    return { digest: md5.digest('hex'), sha256: sha.digest('hex') };
  }

  /** Azure has no abort for staged blocks: an attempt's uncommitted blocks expire on their own (7 days). */
  async abortUnfinished(): Promise<number> {
    return 0;
  }

  close(): void {
    this.clients.close();
  }
}

/** Opens the Azure store: credentials from --azure-config or the environment, on the command's network. */
export async function openAzureStore(
  s: AzureSettings,
  t: TransferSettings,
  budget: ByteBudget,
  env: NodeJS.ProcessEnv,
  net: Network,
): Promise<{ store: AzureStore; secrets: string[] }> {
  const creds = azureCredentials(s.configFile, env);
  const clients = new AzureClients(creds, s, net);
  return { store: new AzureStore(clients, t, budget, s.maxAttempts), secrets: creds.secrets };
}
