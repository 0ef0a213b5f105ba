import { shellWord } from './shell.ts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Set by the single-executable build (esbuild --define); absent when running from source. */
declare const FERRY_BUILD: { version: string; commit: string } | undefined;

export interface VersionInfo {
  version: string;
  commit: string;
}

let cached: VersionInfo | undefined;

/** True in the single executable (scripts/build), false from source. */
export function isSingleExecutable(): boolean {
  return typeof FERRY_BUILD !== 'undefined' && !!FERRY_BUILD;
}

export function versionInfo(): VersionInfo {
  if (cached) return cached;
  if (typeof FERRY_BUILD !== 'undefined' && FERRY_BUILD) return (cached = FERRY_BUILD);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };
  let commit = 'source';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short=12', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a git checkout
  }
  return (cached = { version: pkg.version, commit });
}

/** `ferry <version> (<commit>, node <version>)`: printed by --version and first in every run. */
export function versionLine(): string {
  const v = versionInfo();
  return `ferry ${v.version} (${v.commit}, node ${process.versions.node})`;
}

/**
 * How the user started ferry, to print commands they can paste: `ferry` when found on PATH, else the
 * path as typed (`./ferry`, `dist/ferry`). bin/ferry passes its own $0 as FERRY_INVOKED.
 */
export function invokedAs(env: Record<string, string | undefined> = process.env): string {
  const typed = env.FERRY_INVOKED ?? process.argv0;
  return typed ? shellWord(typed) : 'ferry';
}

/** The command line that starts this same ferry (the built binary, or bin/ferry from source). */
export function selfCommand(env: Record<string, string | undefined> = process.env): string {
  if (isSingleExecutable()) return process.execPath;
  return env.FERRY_SELF ?? fileURLToPath(new URL('../bin/ferry', import.meta.url));
}
