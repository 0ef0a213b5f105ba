import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { landingPath, unfitKey, unsafeRel } from '../../agent/transfer/key-path.ts';
import { checkLandings, mergeLandings, type Landing } from '../../agent/transfer/landing.ts';
import { splitInputs } from '../../agent/config/run.ts';

const at = (key: string) => ({ scheme: 's3' as const, bucket: 'b', key });
const caught = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as FerryError;
  }
  throw new Error('did not throw');
};
const landing = (input: string, files: string[], dirs: string[] = []): Landing => ({
  input,
  files: new Map(files.map((f) => [f, `key:${f}`])),
  dirs: new Map(dirs.map((d) => [d, `key:${d}/`])),
});

describe('the key-to-path rule', () => {
  it('takes plain relative paths; refuses .., ., empty segments, a leading /, NUL, long segments', () => {
    expect(unsafeRel('a/b.txt')).toBeUndefined();
    expect(unsafeRel('..a/b..')).toBeUndefined(); // dots inside names are names
    for (const bad of ['../x', 'a/../../x', 'a/./b', 'a//b', 'a/', '/abs', 'a\0b', `${'n'.repeat(256)}/x`, ''])
      expect(unsafeRel(bad), bad).toBeDefined();
  });
  it('a prefix input lands keys below it; an object its last segment; a refusal is 65 naming the key', () => {
    expect(landingPath(at('in/'), 'in/sub/a.txt')).toBe('sub/a.txt');
    expect(landingPath(at('in/case.zip'), 'in/case.zip')).toBe('case.zip');
    const e = caught(() => landingPath(at('in/'), 'in/../../victim.txt'));
    expect(e.exitCode).toBe(65);
    expect(e.message).toContain("'in/../../victim.txt'");
    expect(caught(() => landingPath(at('in/..'), 'in/..')).exitCode).toBe(65);
  });
  it('a key of more than 1024 bytes (prefix and path) does not fit', () => {
    expect(unfitKey(at('out/'), 'x'.repeat(1020))).toBeUndefined();
    expect(unfitKey(at('out/'), 'x'.repeat(1021))).toContain('1025 bytes, more than the 1024');
  });
});

describe('landings', () => {
  it('a file and a folder of one name in one input: 65 naming both', () => {
    const e = caught(() => checkLandings([landing('s3://b/in/', ['a', 'a/b'])]));
    expect(e.exitCode).toBe(65);
    expect(e.message).toContain("'key:a' is a file, and 'key:a/b' needs a folder there");
    expect(caught(() => checkLandings([landing('z', ['a'], ['a'])])).exitCode).toBe(65);
  });
  it('two inputs on one path, or a file where another needs a folder: 64 naming both; apart: fine', () => {
    expect(caught(() => checkLandings([landing('A', ['x/y']), landing('B', ['x/y'])])).message).toContain(
      'A and B both land on ./x/y',
    );
    expect(caught(() => checkLandings([landing('A', ['x']), landing('B', ['x/y'])])).exitCode).toBe(64);
    expect(caught(() => checkLandings([landing('A', ['p']), landing('A', ['p'])])).message).toContain(
      'the same input is given twice',
    );
    expect(() => checkLandings([landing('A', ['x/a', 'y']), landing('B', ['x/b'])])).not.toThrow();
  });
  it('two objects of one input on one path: 65', () => {
    expect(caught(() => mergeLandings([landing('P', ['f']), landing('P', ['f'])])).exitCode).toBe(65);
  });
});

describe('s3_input as a list', () => {
  it('splits only at a comma that starts another URI', () => {
    expect(splitInputs('s3://b/in/case,v2.zip')).toEqual(['s3://b/in/case,v2.zip']);
    expect(splitInputs('s3://b/a.zip, s3://b/b,c.zip,az://acct/cont/x')).toEqual([
      's3://b/a.zip',
      's3://b/b,c.zip',
      'az://acct/cont/x',
    ]);
  });
});
