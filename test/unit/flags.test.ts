import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../agent/commands/index.ts';
import { flagsOf, renderHelp } from '../../agent/flags/help.ts';
import { count, size, text, texts, toggle } from '../../agent/flags/flag.ts';
import { parseArgs } from '../../agent/flags/parse.ts';
import { closest } from '../../agent/flags/suggest.ts';
import { mainHelp } from '../../agent/help.ts';

const NP = count('np', { dflt: undefined, help: 'ranks' });
const N = count('n', { dflt: 4, help: 'n' });
const MEM = size('memory', { dflt: '256MiB', help: 'memory' });
const OUT = text('output', { help: 'out' });
const IN = texts('input', { help: 'in' });
const MPI = toggle('mpi', { dflt: true, help: 'no mpi' });
const FLAGS = [NP, N, MEM, OUT, IN, MPI];
const parse = (argv: string[], solver = false) =>
  parseArgs(argv, FLAGS, { command: 'test', solverAtFirstPositional: solver });

describe('the one parser', () => {
  it('reads each value through its declaration: defaults, sizes, repeats, --no-x, --x=v', () => {
    const p = parse(['--input', 'a', '--input=b', '--memory', '1GiB', '--no-mpi', '--output=x=y']);
    expect(p.get(IN)).toEqual(['a', 'b']);
    expect(p.get(MEM)).toBe(1024 ** 3);
    expect(p.get(MPI)).toBe(false);
    expect(p.get(OUT)).toBe('x=y');
    expect(p.get(N)).toBe(4);
    expect(p.get(NP)).toBeUndefined();
    expect(p.typed(MEM)).toBe('1GiB');
    expect(parse([]).typed(MEM)).toBe('256MiB');
  });

  it('a bad value is reported while parsing, before the command looks at anything else', () => {
    expect(() => parse(['--np', 'four'])).toThrow("--np must be a whole number from 1 to 1000000, got 'four'");
    expect(() => parse(['--mpi=1'])).toThrow('option --mpi takes no value');
    expect(() => parse(['--output'])).toThrow('option --output needs a value');
  });

  it('run: the first positional starts the solver argv, whose own flags never reach the parser', () => {
    const p = parse(['--np', '2', 'converge', '--np', 'x', '-v'], true);
    expect(p.get(NP)).toBe(2);
    expect(p.rest).toEqual(['converge', '--np', 'x', '-v']);
  });

  it('records each flag as given (doe rehearse passes them on)', () => {
    expect(parse(['--output=o', '--input', 'i', '--no-mpi']).spans).toEqual([
      { flag: 'output', tokens: ['--output=o'], value: 'o' },
      { flag: 'input', tokens: ['--input', 'i'], value: 'i' },
      { flag: 'mpi', tokens: ['--no-mpi'] },
    ]);
  });

  it('an unknown option names the closest one', () => {
    expect(() => parse(['--ouput', 'x'])).toThrow(
      expect.objectContaining({ hint: expect.stringMatching(/--output\?/) }),
    );
    expect(() => parse(['-np', '2'])).toThrow(expect.objectContaining({ hint: expect.stringMatching(/--np\?/) }));
    expect(() => parse(['--zzzzzz'])).toThrow(
      expect.objectContaining({ hint: 'run ferry test --help for the list of options' }),
    );
  });
});

describe('did you mean', () => {
  it.each([
    ['ouput', 'output'],
    ['statsu', 'status'],
    ['input', 'inputs'],
    ['setle', 'settle'],
  ])('%s → %s', (typo, meant) => {
    expect(closest(typo, ['output', 'status', 'inputs', 'settle', 'np'])).toBe(meant);
  });
  it('nothing when nothing is close', () => expect(closest('xyzzy', ['output', 'status'])).toBeUndefined());
});

describe('--help rendered from the declarations', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))('ferry %s --help lists each of its own flags', (_, spec) => {
    const help = renderHelp(spec);
    for (const f of spec.flags.filter((x) => x.name !== 'help')) expect(help).toContain(`--${f.shownAs ?? f.name}`);
    expect(help.split('\n')[0]).toBe(`Usage: ${spec.usage[0]}`);
  });

  it('every flag of every command appears in its help or in ferry --help (its groups)', () => {
    const main = mainHelp();
    for (const spec of COMMANDS) {
      const help = renderHelp(spec);
      for (const f of flagsOf(spec)) expect(help + main).toContain(`--${f.shownAs ?? f.name}`);
    }
    for (const spec of COMMANDS) expect(main).toContain(`ferry ${spec.name}`);
  });

  it('one meaning per flag name: a name declared twice is the same declaration', () => {
    const byName = new Map<string, unknown>();
    for (const spec of COMMANDS)
      for (const f of flagsOf(spec)) {
        if (byName.has(f.name)) expect(byName.get(f.name), `--${f.name}`).toBe(f);
        byName.set(f.name, f);
      }
  });
});
