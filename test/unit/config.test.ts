import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFor } from '../../agent/commands/spec.ts';
import { RUN } from '../../agent/commands/run/spec.ts';
import { isPacFile, netSettings, runConfig } from '../../agent/config.ts';
import { parseSize } from '../../agent/flags/values.ts';
import { FerryError } from '../../agent/errors.ts';
import { parseVars } from '../../agent/vars.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-unit-'));
const cfg = (argv: string[], env: Record<string, string> = {}) => runConfig(parseFor(RUN, argv), env, dir);
const MiB = 1024 * 1024;

function usage(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).exitCode).toBe(64);
    return err as FerryError;
  }
  throw new Error('expected a usage error');
}

describe('parseVars', () => {
  it('reads key=value lines with comments, export, quotes and spaces', () => {
    const v = parseVars(
      '# c\n\nexport s3_input="s3://b/in/a.zip"\ns3_output = s3://b/out/a/  # trailing\nq=\'x y\'\r\n',
      'vars',
    );
    expect(Object.fromEntries(v)).toEqual({ s3_input: 's3://b/in/a.zip', s3_output: 's3://b/out/a/', q: 'x y' });
  });
  it('refuses an unrendered placeholder, naming the line', () => {
    expect(usage(() => parseVars('s3_input=${s3_input}\n', 'vars.txt')).message).toContain('vars.txt:1');
  });
  it('refuses a line that is not key=value', () => {
    expect(usage(() => parseVars('just words\n', 'v')).message).toContain('expected key=value');
  });
});

describe('runConfig', () => {
  it('takes input/output from the environment and np from RESCALE_CORES_PER_SLOT', () => {
    const c = cfg(['converge', 'super'], {
      s3_input: 's3://bkt/in/a.zip',
      s3_output: 's3://bkt/out/a',
      RESCALE_CORES_PER_SLOT: '16',
    });
    expect(c.inputs).toEqual([{ scheme: 's3', bucket: 'bkt', key: 'in/a.zip' }]);
    expect(c.output).toEqual({ scheme: 's3', bucket: 'bkt', key: 'out/a/' });
    expect(c.mpi.np).toBe(16);
    expect(c.solver).toEqual(['converge', 'super']);
  });
  it("defaults to 8 ranks and keeps the solver's own flags away from ferry's parser", () => {
    const c = cfg(['--input', 's3://bkt/a.zip', '--output', 's3://bkt/o/', 'solver', '--np', '3', '-x']);
    expect(c.mpi.np).toBe(8);
    expect(c.solver).toEqual(['solver', '--np', '3', '-x']);
  });
  it('flags win over the vars file, which wins over the environment', () => {
    const vars = join(dir, 'vars.txt');
    writeFileSync(vars, 's3_input=s3://bkt/vars.zip\ns3_output=s3://bkt/vars/\n');
    const env = { s3_input: 's3://bkt/env.zip', s3_output: 's3://bkt/env/' };
    expect(cfg(['--vars', vars, 'x'], env).inputs[0].key).toBe('vars.zip');
    expect(cfg(['--vars', vars, '--output', 's3://bkt/flag/', 'x'], env).output.key).toBe('flag/');
  });
  it('names both the flag and the variable when the output is missing', () => {
    const e = usage(() => cfg(['x'], { s3_input: 's3://bkt/a.zip' }));
    expect(e.render()).toContain('--output');
    expect(e.render()).toContain('s3_output');
  });
  it('refuses a bad RESCALE_CORES_PER_SLOT by name', () => {
    expect(
      usage(() => cfg(['x'], { s3_input: 's3://bkt/a', s3_output: 's3://bkt/o/', RESCALE_CORES_PER_SLOT: 'eight' }))
        .message,
    ).toContain('RESCALE_CORES_PER_SLOT');
  });
  it('refuses a missing solver and a non-s3 URI', () => {
    expect(usage(() => cfg([], { s3_input: 's3://bkt/a', s3_output: 's3://bkt/o/' })).message).toContain('no solver');
    expect(usage(() => cfg(['x'], { s3_input: 'https://bkt/a', s3_output: 's3://bkt/o/' })).message).toContain(
      'not an s3:// or az:// URI',
    );
  });
  it('uses $HOME/machinefile when present', () => {
    writeFileSync(join(dir, 'machinefile'), 'node1 slots=8\n');
    expect(cfg(['x'], { s3_input: 's3://bkt/a', s3_output: 's3://bkt/o/', HOME: dir }).mpi.hostfile).toBe(
      join(dir, 'machinefile'),
    );
  });
  it('refuses unknown options and part sizes under the S3 minimum', () => {
    expect(usage(() => cfg(['--bogus', 'x'])).message).toContain('--bogus');
    expect(
      usage(() => cfg(['--part-size', '1MiB', 'x'], { s3_input: 's3://bkt/a', s3_output: 's3://bkt/o/' })).message,
    ).toContain('5MiB');
  });
});

describe('--memory', () => {
  const io = { s3_input: 's3://bkt/a', s3_output: 's3://bkt/o/' };
  const mem = (argv: string[]) => cfg([...argv, 'x'], io).transfer.memory;
  it('defaults to 96 MiB, and to two parts of a bigger --part-size (up to 256 MiB, or one part over it)', () => {
    expect(mem([])).toBe(96 * MiB);
    expect(mem(['--part-size', '32MiB'])).toBe(96 * MiB);
    expect(mem(['--part-size', '64MiB'])).toBe(128 * MiB);
    expect(mem(['--part-size', '128MiB'])).toBe(256 * MiB);
    expect(mem(['--part-size', '512MiB'])).toBe(512 * MiB); // refused before: 256 MiB < the part
  });
  it('as given is the bound, and one smaller than --part-size is refused', () => {
    expect(mem(['--memory', '40MiB'])).toBe(40 * MiB);
    expect(usage(() => mem(['--part-size', '64MiB', '--memory', '32MiB'])).message).toContain(
      '--memory (32MiB) must be at least --part-size (64MiB)',
    );
  });
});

describe('parseSize', () => {
  it('reads binary units', () => {
    expect(parseSize('8MiB', 'x')).toBe(8 * 1024 * 1024);
    expect(parseSize('512k', 'x')).toBe(512 * 1024);
    expect(parseSize('1048576', 'x')).toBe(1048576);
    expect(() => parseSize('8 parsecs', 'x')).toThrow(FerryError);
  });
});

describe('--proxy-pac', () => {
  const pac = (argv: string[], env: Record<string, string> = {}) => netSettings(parseFor(RUN, argv), env, dir).pac;
  it('auto (any case, or FERRY_PROXY_PAC=auto) is WPAD, not a file; ./auto and paths are files; URLs stay', () => {
    expect(pac(['--proxy-pac', 'auto', 'x'])).toBe('auto');
    expect(pac(['--proxy-pac', 'AUTO', 'x'])).toBe('auto');
    expect(pac(['x'], { FERRY_PROXY_PAC: 'auto' })).toBe('auto');
    expect(pac(['--proxy-pac', './auto', 'x'])).toBe(join(dir, 'auto'));
    expect(pac(['--proxy-pac', 'site.pac', 'x'])).toBe(join(dir, 'site.pac'));
    expect(pac(['--proxy-pac', 'http://wpad.corp/wpad.dat', 'x'])).toBe('http://wpad.corp/wpad.dat');
    expect(isPacFile('auto')).toBe(false);
    expect(isPacFile(join(dir, 'auto'))).toBe(true);
  });
});
