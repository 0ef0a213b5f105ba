// The storage seam: everything a run asks of a store (S3, Azure Blob), in ferry's own terms. Phases and
// commands speak this interface and Locations; a store's folder (agent/s3/, agent/azure/) is the only
// place that knows its SDK. Every method throws only FerryErrors, already classified (phase, target, exit code,
// hint), so callers never look at a store's own error codes.
import type { Phase } from '../errors.ts';
import type { Location } from '../location.ts';

/**
 * An object as a listing or HEAD shows it. Two identities: `etag` names this version of the object
 * (for conditional writes, deletes and reads; always bare, no quotes, in every store), `digest` names
 * its bytes in a form ferry can compute from a local file (`Store.fingerprint`): the ETag on S3, the
 * Content-MD5 on Azure. The two may be equal (S3) or not (Azure's ETag is opaque).
 */
export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  /** Hex; undefined when the store shows none (an Azure blob written without Content-MD5). */
  digest?: string;
  modified?: Date;
}

/**
 * The byte ledger of a transfer (a phase's progress counters): the store kit counts into it where the
 * bytes are read — each part as it is read from the file and sent (agent/store/parts.ts), each
 * downloaded chunk as it arrives (agent/store/download.ts) — as rclone's accounting wraps a reader.
 */
export interface Meter {
  addBytes(n: number): void;
}

/** What a call is part of: decides the exit code of its failure (66 for a missing input, 73 for an output). */
export interface Call {
  phase: Phase;
  signal?: AbortSignal;
  /** What the call does, in words, for its error message ("writing the manifest"). */
  what?: string;
  /** Where the bytes it moves are counted. */
  meter?: Meter;
}

/** A file sent, to be verified: what the store must show for it. */
export interface Uploaded {
  loc: Location;
  size: number;
  /** The digest the store must show for these bytes (see ObjectInfo.digest). */
  digest: string;
  /** The ETag the store gave the version written (bare): a later delete or write names it as its condition. */
  etag: string;
  /** SHA-256 of the bytes sent, hex (when asked for). */
  sha256?: string;
  /** A growing upload's parts sent while the file was written and found unchanged at its close, of `parts`. */
  ahead?: { parts: number; of: number };
}

export interface Verdict {
  ok: boolean;
  /** Why the object does not match, in words. */
  reason?: string;
}

export interface PutFileOptions extends Call {
  /** Also hash the whole file with SHA-256 (for a manifest). */
  sha256?: boolean;
  contentType?: string;
}

export interface PutBytesOptions extends Call {
  contentType?: string;
  /** Only if no object has this key (If-None-Match: *). */
  ifAbsent?: boolean;
  /** Only if the object still has this ETag (If-Match). */
  ifEtag?: string;
}

/** A stored object read whole (small ones: the manifest, the lease). */
export interface Fetched {
  body: Buffer;
  info: ObjectInfo;
  /**
   * The server's time when it answered (its Date), when the store knows it: with `info.modified`
   * (also the server's) it dates the object by one clock, whatever this node's clock says.
   */
  serverDate?: Date;
}

/** A step a run asks of a store, as `ferry check` probes it (and names what it lacks when refused). */
export type Step = 'read' | 'put' | 'verify' | 'remove' | 'multipart';

/** How a store names its things in messages, so a user of one store is never told another's terms. */
export interface StoreTerms {
  /** `S3`, `Azure Blob`. */
  readonly name: string;
  /** What an object's name is called there (`S3 key`, `blob name`). */
  readonly key: string;
  /** Per step, what to grant when it is refused (an IAM action, a SAS letter or role). */
  readonly needs: Readonly<Record<Step, string>>;
}

export interface Store {
  /** Where requests go, for messages: the endpoint, and the proxy (password hidden) if one is used. */
  readonly where: string;
  readonly terms: StoreTerms;
  head(loc: Location, call: Call): Promise<ObjectInfo>;
  /** Every object under a prefix (folder markers left out), in key order. */
  list(prefix: Location, call: Call): Promise<ObjectInfo[]>;
  /**
   * Streams bytes [start, end) of the object with this ETag to `onChunk`; a body that breaks off or
   * stalls is asked for again from the first byte not received (the object must keep its ETag).
   */
  read(
    loc: Location,
    etag: string,
    range: [number, number],
    call: Call,
    onChunk: (chunk: Buffer, pos: number) => Promise<void> | void,
  ): Promise<void>;
  /** A small object, or undefined when there is none. */
  fetch(loc: Location, call: Call): Promise<Fetched | undefined>;
  /**
   * The largest buffer an upload of `size` bytes takes from the pool (its part, grown past the
   * store's part limit): commands check it against --memory before sending anything.
   */
  partFor(size: number): number;
  /** Uploads a local file of `size` bytes within the shared memory pool; the caller verifies it. */
  putFile(file: string, size: number, dest: Location, opts: PutFileOptions): Promise<Uploaded>;
  /** Writes a small object in one request; undefined when its condition (ifAbsent / ifEtag) failed. */
  putBytes(dest: Location, body: Buffer, opts: PutBytesOptions): Promise<Uploaded | undefined>;
  /** Deletes an object (only if it still has `ifEtag`, when given); false when it had another. */
  remove(loc: Location, call: Call & { ifEtag?: string }): Promise<boolean>;
  /** Checks that an upload is in the store as sent; uploads finishing together are checked together. */
  verify(up: Uploaded, call: Call): Promise<Verdict>;
  /** The digest this store would show for the file as ferry uploads it, and its SHA-256. */
  fingerprint(file: string, size: number, signal?: AbortSignal): Promise<{ digest: string; sha256: string }>;
  /**
   * Aborts unfinished uploads an earlier attempt left under the prefix; how many. A store that cannot
   * abort them (Azure: uncommitted blocks expire on their own) counts none.
   */
  abortUnfinished(prefix: Location, call: Call): Promise<number>;
  close(): void;
}

/**
 * An optional ability (a store may lack it): the sub-prefixes one level below a prefix, as a listing
 * with a '/' delimiter gives them, without reading every key under them. Without it, callers derive
 * them from `list`.
 */
export interface FolderLister {
  /** The keys of the sub-prefixes directly under `prefix`, each ending with '/', in key order. */
  folders(prefix: Location, call: Call): Promise<string[]>;
}

export function canListFolders(store: Store): store is Store & FolderLister {
  return typeof (store as Partial<FolderLister>).folders === 'function';
}

/**
 * An optional ability: what a store can say about its own setup, for `ferry check` (never a secret).
 * A store without it is checked through the rest of the seam only (head, putBytes, verify, remove).
 */
export interface SelfCheck {
  /** Facts as [what, text] lines: where the credentials came from, who they are, region, endpoint, clock. */
  about(): Promise<Array<[string, string]>>;
  /** Starts an upload in parts at `loc` and aborts it: throws the classified failure when either is refused. */
  multipartAbort(loc: Location, call: Call): Promise<void>;
}

export function canSelfCheck(store: Store): store is Store & SelfCheck {
  return typeof (store as Partial<SelfCheck>).about === 'function';
}

/**
 * An optional ability: an upload begun while its file is still being written, its parts sent as the
 * file grows past them and the whole checked again at the close (agent/store/growing.ts). A store
 * without it uploads each file once it has settled.
 */
export interface GrowingUploads {
  /** The part size of its growing uploads: a file needs more than two to be worth one. */
  readonly growingPart: number;
  /** A growing upload of `file` to `dest` (nothing sent before its first grow); its failures are classified. */
  growing(file: string, dest: Location, call: Call): Growing;
}

/** The close of a growing upload: the file as it is now, its SHA-256 (if asked), where bytes are counted. */
export interface FinishOptions {
  size: number;
  sha256?: boolean;
  signal?: AbortSignal;
  meter?: Meter;
}

/** One file's upload begun while it is written (agent/store/growing.ts: GrowingUpload). */
export interface Growing {
  /** Sends the parts wholly within the file's first `size` bytes not sent yet. */
  grow(size: number, signal?: AbortSignal): Promise<void>;
  /** The upload of the file as it is now, or undefined when it must go up the usual way. */
  finish(f: FinishOptions): Promise<Uploaded | undefined>;
  abort(): Promise<void>;
}

export function canGrow(store: Store): store is Store & GrowingUploads {
  return typeof (store as Partial<GrowingUploads>).growing === 'function';
}
