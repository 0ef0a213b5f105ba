// Where every input lands, checked as a whole before any byte is downloaded: no two inputs on one
// path, no file of an input where another of its files needs a folder, nothing written through a
// symbolic link or over a file that was in the run directory before ferry started, and the whole
// input fits the free disk space.
import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { EXIT, FerryError } from '../errors.ts';
import { formatBytes } from '../log.ts';
import type { Snapshot } from '../rundir/tree.ts';

/** What one input puts in the target directory. */
export interface Landing {
  /** The input as given (a URI), for messages. */
  input: string;
  /** Local path (relative, '/') → the key or archive entry it comes from. */
  files: Map<string, string>;
  /** Folders the input names itself (an archive's directory entries), likewise. */
  dirs: Map<string, string>;
}

/** Every folder above a relative path, outermost first ('a/b/c' → 'a', 'a/b'). */
function parents(rel: string): string[] {
  const out: string[] = [];
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

const BOTH_HINT = 'a file and a folder of the same name cannot both be written: rename one of them in the store';

/** Within one input: a file where another of its files (or a folder it names) needs a folder: 65, naming both. */
function checkWithin(l: Landing): void {
  const clash = (file: string, other: string) =>
    new FerryError(`refusing the input: '${l.files.get(file)}' is a file, and '${other}' needs a folder there`, {
      phase: 'download',
      target: l.input,
      exitCode: EXIT.dataErr,
      hint: BOTH_HINT,
    });
  for (const [rel, from] of l.files) for (const p of parents(rel)) if (l.files.has(p)) throw clash(p, from);
  for (const [rel, from] of l.dirs) if (l.files.has(rel)) throw clash(rel, from);
}

/** Between inputs: two on one path, or one's file where another's needs a folder: 64, naming both. */
function checkBetween(all: Landing[]): void {
  const owner = new Map<string, number>();
  all.forEach((l, i) => {
    for (const rel of l.files.keys()) if (!owner.has(rel)) owner.set(rel, i);
  });
  all.forEach((l, i) => {
    for (const [rel, from] of l.files) {
      for (const p of [rel, ...parents(rel)]) {
        const j = owner.get(p);
        if (j === undefined || j === i) continue;
        const o = all[j];
        const same = o.input === l.input ? ' (the same input is given twice)' : '';
        const what =
          p === rel
            ? `both land on ./${rel}`
            : `'${o.files.get(p)}' of ${o.input} is a file where '${from}' of ${l.input} needs a folder`;
        throw new FerryError(`two inputs collide: ${o.input} and ${l.input} ${what}${same}`, {
          phase: 'download',
          target: `./${p}`,
          exitCode: EXIT.usage,
          hint: 'each input must bring its own files: drop the duplicate input, or move one into a folder of its own',
        });
      }
    }
  });
}

/** The objects of one input (a prefix's, each zip's entries) as one landing: two of them on one path is 65. */
export function mergeLandings(parts: Landing[]): Landing {
  const out: Landing = { input: parts[0].input, files: new Map(), dirs: new Map() };
  for (const l of parts) {
    for (const [rel, from] of l.files) {
      const other = out.files.get(rel);
      if (other !== undefined)
        throw new FerryError(`refusing the input: '${other}' and '${from}' both land on ./${rel}`, {
          phase: 'download',
          target: out.input,
          exitCode: EXIT.dataErr,
          hint: 'two objects (or archive entries) of one input give the same file: remove one of them',
        });
      out.files.set(rel, from);
    }
    for (const [rel, from] of l.dirs) out.dirs.set(rel, from);
  }
  return out;
}

/** No two inputs on one path, no file where its own input needs a folder (65 within one input, 64 between two). */
export function checkLandings(all: Landing[]): void {
  for (const l of all) checkWithin(l);
  checkBetween(all);
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined; // absent (or unreadable: the write will say so)
  }
}

function refuseHere(l: Landing, rel: string, why: string, exitCode: number, hint: string): FerryError {
  const from = l.files.get(rel);
  return new FerryError(`refusing the input: ${from ? `'${from}' ` : ''}${why}`, {
    phase: 'download',
    target: l.input,
    exitCode,
    hint,
  });
}

const LINK_HINT = 'remove the link from the run directory, or download into another directory';
const BEFORE_HINT =
  'ferry never overwrites a file that was in the run directory before it started: ' +
  'remove or rename that file, or rename the object in the store';

/**
 * Against the directory as it is: nothing written through a symbolic link (65, as for archive entries)
 * or where a file needs a folder or a folder stands (64); with `before` (ferry run: the files there
 * before the first attempt), nothing over one of those (64). Each folder is looked at once.
 */
export function checkTarget(all: Landing[], dir: string, before?: Snapshot): void {
  const seen = new Map<string, Stats | undefined>();
  const at = (rel: string) => {
    if (!seen.has(rel)) seen.set(rel, lstatOrUndefined(join(dir, rel)));
    return seen.get(rel);
  };
  for (const l of all) {
    for (const rel of l.files.keys()) {
      let absent = false;
      for (const p of parents(rel)) {
        const st = at(p);
        if (!st) {
          absent = true; // nothing deeper exists either
          break;
        }
        if (st.isSymbolicLink())
          throw refuseHere(l, rel, `would be written through the symbolic link ./${p}`, EXIT.dataErr, LINK_HINT);
        if (!st.isDirectory())
          throw refuseHere(l, rel, `needs a folder ./${p}, and a file is there`, EXIT.usage, BEFORE_HINT);
      }
      const st = absent ? undefined : at(rel);
      if (!st) continue;
      if (st.isSymbolicLink())
        throw refuseHere(l, rel, `would replace the symbolic link ./${rel}`, EXIT.dataErr, LINK_HINT);
      if (st.isDirectory()) throw refuseHere(l, rel, `would land on the folder ./${rel}`, EXIT.usage, BEFORE_HINT);
      if (before?.has(rel))
        throw refuseHere(
          l,
          rel,
          `would overwrite ./${rel}, which was in the run directory before ferry started`,
          EXIT.usage,
          BEFORE_HINT,
        );
    }
  }
}

/** What the inputs need on disk at most: every object, and what each archive unpacks to beside it. */
export interface SpaceNeed {
  objects: number;
  unpacked: number;
}

/** The inputs must fit the free space (74 naming both numbers) before anything is downloaded. */
export function checkSpace(need: SpaceNeed, free: number, target: string): void {
  const total = need.objects + need.unpacked;
  if (total <= free) return;
  const parts =
    need.unpacked > 0 ? ` (${formatBytes(need.objects)} downloaded, ${formatBytes(need.unpacked)} unpacked)` : '';
  throw new FerryError(
    `the input needs ${formatBytes(total)} on disk${parts}, more than the free disk space (${formatBytes(free)})`,
    {
      phase: 'download',
      target,
      exitCode: EXIT.ioErr,
      hint: 'an archive is kept on disk while it is extracted: use a node with more scratch space, or a smaller input',
    },
  );
}
