// Globs over run-directory paths ('/'-separated, relative): `*` and `?` within a name, `**` as a
// whole segment for any depth, character classes ([abc], [a-z], [!x] or [^x]), `\` to escape. Node
// 20 has no glob matcher to rely on (path.matchesGlob is experimental there, absent before 20.17),
// and its rules would differ from the single executable's Node 24 (which skips dot-files under `*`).
import { usageError } from './errors.ts';

export interface Glob {
  /** The pattern as given. */
  pattern: string;
  /** True when `rel` (relative, '/'-separated) matches the whole pattern. */
  matches(rel: string): boolean;
  /** The pattern can match below the directory's top level (it has a '/' or `**`). */
  deep: boolean;
}

const SPECIAL = /[\\^$.*+?()[\]{}|/]/g;
const escape = (s: string) => s.replace(SPECIAL, '\\$&');

/** A character class starting at `p[i]` ('['): its RegExp and the index after its ']'. */
function charClass(p: string, i: number, bad: (why: string) => Error): [string, number] {
  let j = i + 1;
  const negate = p[j] === '!' || p[j] === '^';
  if (negate) j++;
  let body = '';
  for (let first = true; j < p.length && (first || p[j] !== ']'); first = false, j++) {
    if (p[j] === '/') throw bad('a character class cannot hold "/"');
    if (p[j] === '\\' && j + 1 < p.length) j++;
    const range = p[j + 1] === '-' && p[j + 2] !== undefined && p[j + 2] !== ']';
    if (range && p[j + 2] < p[j]) throw bad(`the range ${p[j]}-${p[j + 2]} is backwards`);
    body += range ? `${escape(p[j])}-${escape(p[j + 2])}` : escape(p[j]);
    if (range) j += 2;
  }
  if (j >= p.length) throw bad('a "[" has no closing "]"');
  return [negate ? `[^/${body}]` : `(?!/)[${body}]`, j + 1];
}

/** `**` is any depth only as a whole segment; elsewhere it is two `*`. */
function globstar(p: string, i: number): string | undefined {
  if (p[i + 1] !== '*' || (i > 0 && p[i - 1] !== '/')) return undefined;
  if (i + 2 === p.length) return '.*';
  return p[i + 2] === '/' ? '(?:[^/]+/)*' : undefined;
}

function toRegExp(p: string, bad: (why: string) => Error): string {
  let re = '';
  for (let i = 0; i < p.length;) {
    const c = p[i];
    const star = c === '*' ? globstar(p, i) : undefined;
    if (star) {
      re += star;
      i += star === '.*' ? 2 : 3;
    } else if (c === '*') [re, i] = [re + '[^/]*', i + 1];
    else if (c === '?') [re, i] = [re + '[^/]', i + 1];
    else if (c === '[') {
      const [cls, next] = charClass(p, i, bad);
      [re, i] = [re + cls, next];
    } else if (c === '\\') {
      if (i + 1 >= p.length) throw bad('it ends in a lone "\\"');
      [re, i] = [re + escape(p[i + 1]), i + 2];
    } else [re, i] = [re + escape(c), i + 1];
  }
  return re;
}

/**
 * Compiles `pattern` for paths relative to the run directory. A leading "./" is dropped; a leading
 * dot in a name is not special (`*.rst` matches ".a.rst"). Refused (exit 64, naming `flag`): an
 * empty pattern, an absolute one, a ".." segment, an unclosed "[" and other broken syntax.
 */
export function compileGlob(pattern: string, flag: string): Glob {
  const bad = (why: string) =>
    usageError(
      `${flag} '${pattern}': ${why}`,
      'a glob is relative to the run directory: *, ?, [a-z] within a name, ** for any depth (restart*.rst, **/*.h5)',
    );
  const p = pattern.replace(/^(\.\/)+/, '');
  if (p === '') throw bad('the pattern is empty');
  if (p.startsWith('/')) throw bad('it is an absolute path');
  if (p.split('/').some((seg) => seg === '..' || seg === '.' || seg === ''))
    throw bad('it has an empty, "." or ".." segment');
  const re = new RegExp(`^${toRegExp(p, bad)}$`, 's');
  return { pattern, matches: (rel) => re.test(rel), deep: p.includes('/') || p.includes('**') };
}
