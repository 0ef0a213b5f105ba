import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './env.ts';

/** One archive of the corpus and what ferry must do with it (test/fixtures-gen/make-zips.py). */
export interface ZipCase {
  file: string;
  expect: 'ok' | 'refuse';
  why?: string;
  entry?: string;
  args: string[];
  /** What the extraction holds: text, { sha256 } of binary bytes, or null (a folder, or bytes not ours). */
  files?: Record<string, string | { sha256: string } | null>;
  /** How many files and folders the extraction makes in all. */
  entries?: number;
}

const SCRIPT = join(ROOT, 'test/fixtures-gen/make-zips.py');

/**
 * The corpus of legitimate and hostile zips, made once per version of make-zips.py and kept under
 * .build/zips/<its sha256> (the S3 and the Azure tests read the same files; making it takes seconds:
 * one archive has 65,601 entries). Made in a folder of its own and renamed into place, so two test
 * files that ask at once never see half a corpus.
 */
export function zipCorpus(): { dir: string; cases: ZipCase[] } {
  const version = createHash('sha256').update(readFileSync(SCRIPT)).digest('hex').slice(0, 16);
  const dir = join(ROOT, '.build/zips', version);
  if (!existsSync(join(dir, 'cases.json'))) {
    const tmp = `${dir}.${process.pid}.tmp`;
    mkdirSync(tmp, { recursive: true });
    execFileSync('python3', [SCRIPT, tmp], { stdio: ['ignore', 'ignore', 'inherit'] }); // its errors show
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another file made it meanwhile
    }
  }
  return { dir, cases: JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as ZipCase[] };
}
