// Every input object planned before any byte is downloaded: where each lands (an archive's entries
// from its central directory), checked as a whole (landing.ts), and the whole fitting the disk.
import { rm } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import pLimit from 'p-limit';
import { formatUri } from '../location.ts';
import type { Log } from '../log.ts';
import { isZipName } from '../names.ts';
import { settleAll } from '../settle.ts';
import { ObjectChanged } from '../store/changed.ts';
import { freeBytes } from '../zip/extract.ts';
import { planZip, type ZipPlan } from './fetch-zip.ts';
import { checkLandings, checkSpace, checkTarget, mergeLandings, type Landing } from './landing.ts';
import type { Snapshot } from '../rundir/tree.ts';
import type { Location } from '../location.ts';
import type { ObjectInfo, Store } from '../store/store.ts';

/** One object to bring in, from which store, and where it lands (relative to the target dir). */
export interface Job {
  store: Store;
  /** The input as given (a prefix, or the object itself). */
  input: Location;
  loc: Location;
  obj: ObjectInfo;
  rel: string;
}

/** One object to bring in, planned: where its files land, and for an archive its checked entries. */
export interface Planned {
  job: Job;
  zip?: ZipPlan;
  landing: Landing;
  /** The object lands on a name of ferry's own: not written (a warning said so). */
  skipped: boolean;
}

export interface PlanOptions {
  concurrency: number;
  maxExtract?: number;
  /** Paths (relative, '/') of ferry's own: no input is written there. */
  reserved?: (rel: string) => boolean;
  /** ferry run: the files that were in the run directory before ferry first ran (never overwritten). */
  before?: Snapshot;
  signal?: AbortSignal;
}

const OWN_NAME = "the name belongs to ferry's own files in the run directory";

async function planOne(job: Job, log: Log, o: PlanOptions): Promise<Planned> {
  const input = formatUri(job.loc);
  const landing: Landing = { input: formatUri(job.input), files: new Map(), dirs: new Map() };
  if (o.reserved?.(job.rel)) {
    log.warn(`not writing ${job.rel} from ${input}: ${OWN_NAME}`);
    return { job, landing, skipped: true };
  }
  if (!isZipName(job.rel)) {
    landing.files.set(job.rel, job.obj.key);
    return { job, landing, skipped: false };
  }
  const relDir = posix.dirname(job.rel);
  const inDir = (rel: string) => (relDir === '.' ? rel : `${relDir}/${rel}`);
  const zip = await planZip(job.store, job.loc, job.obj, {
    maxExtract: o.maxExtract,
    signal: o.signal,
    skip: o.reserved && ((rel) => o.reserved!(inDir(rel))),
    onSkip: (entry) => log.warn(`not extracting '${entry}' from ${input}: ${OWN_NAME}`),
  });
  // An entry is named as it is in the archive; in a prefix's archive, with the archive's key.
  const from = (entry: string) => (job.loc === job.input ? entry : `${job.obj.key}: ${entry}`);
  for (const p of zip.entries)
    (p.isDir ? landing.dirs : landing.files).set(inDir(p.rel.split(sep).join('/')), from(p.entry.name));
  return { job, zip, landing, skipped: false };
}

/** planOne, once more with the object's new version when it changed while its central directory was read. */
async function planFresh(job: Job, log: Log, o: PlanOptions): Promise<Planned> {
  try {
    return await planOne(job, log, o);
  } catch (err) {
    if (!(err instanceof ObjectChanged)) throw err;
    log.warn(`${formatUri(job.loc)} changed while its central directory was read: reading it again`);
    const obj = await job.store.head(job.loc, { phase: 'download', signal: o.signal });
    return planOne({ ...job, obj }, log, o).catch((e) => {
      throw e instanceof ObjectChanged ? new ObjectChanged(formatUri(job.loc), e, true) : e;
    });
  }
}

/**
 * Plans every object (archives by their central directories, `concurrency` at once), then checks the
 * whole: no two inputs on one path, nothing through a link or over a file that was there before,
 * and all of it within the free disk space of `dir`.
 */
export async function planAll(jobs: Job[], dir: string, log: Log, o: PlanOptions): Promise<Planned[]> {
  const limit = pLimit(o.concurrency);
  const planned = await settleAll(jobs.map((job) => limit(() => planFresh(job, log, o))));
  checkPlanned(planned, dir, o.before);
  const need = { objects: 0, unpacked: 0 };
  for (const p of planned) {
    if (p.skipped) continue;
    need.objects += p.job.obj.size;
    for (const e of p.zip?.entries ?? []) need.unpacked += e.entry.size;
  }
  checkSpace(need, await freeBytes(dir), dir);
  return planned;
}

/** Every input as given once (a prefix's objects together, the same URI given twice: two inputs). */
function byInput(planned: Planned[]): Landing[] {
  const groups = new Map<Job['input'], Landing[]>();
  for (const p of planned) groups.set(p.job.input, [...(groups.get(p.job.input) ?? []), p.landing]);
  return [...groups.values()].map(mergeLandings);
}

function checkPlanned(planned: Planned[], dir: string, before?: Snapshot): void {
  const landings = byInput(planned);
  checkLandings(landings);
  checkTarget(landings, dir, before);
}

/**
 * The same object planned again after it changed during its download (its new version: HEAD again,
 * an archive's central directory read again), checked against the others; what its old version had
 * extracted is removed first (only its own files: the checks proved no one else's are there).
 */
export async function replan(p: Planned, all: Planned[], dir: string, log: Log, o: PlanOptions): Promise<Planned> {
  for (const rel of p.landing.files.keys()) await rm(join(dir, rel), { force: true });
  const obj = await p.job.store.head(p.job.loc, { phase: 'download', signal: o.signal });
  const fresh = await planOne({ ...p.job, obj }, log, o);
  checkPlanned(
    all.map((q) => (q === p ? fresh : q)),
    dir,
    o.before,
  );
  return fresh;
}
