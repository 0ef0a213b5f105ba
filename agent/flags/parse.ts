// The one parser of every command: `--flag value`, `--flag=value`, `--x` / `--no-x` for switches,
// `-h`. Values are read later through each flag's declaration (Args.get), so parsing never guesses.
import { usageError } from '../errors.ts';
import type { Flag, Raw } from './flag.ts';
import { closest } from './suggest.ts';

/** One flag as it appeared on the command line (doe rehearse passes a row's run options on as given). */
export interface Span {
  flag: string;
  tokens: string[];
  /** The value it carried (none for a switch). */
  value?: string;
}

export interface ParseOptions {
  /** The command (`run`, `doe status`), named in errors. */
  command: string;
  /** `run`: the first positional and everything after it are the solver's argv, never parsed. */
  solverAtFirstPositional?: boolean;
}

/** What a command line held: the flags' raw values, the positionals, what follows `--`. */
export class Args {
  constructor(
    private readonly raw: ReadonlyMap<string, Raw>,
    readonly positionals: string[],
    /** After `--`, or (run) from the first positional on: untouched. */
    readonly rest: string[],
    readonly spans: Span[],
  ) {}

  /** The flag's value: as given, or its declared default. */
  get<T>(flag: Flag<T>): T {
    return flag.read(this.raw.get(flag.name));
  }

  /** The value as typed (for messages), else the default as --help shows it. */
  typed(flag: Flag<unknown>): string | undefined {
    const r = this.raw.get(flag.name);
    return typeof r === 'string' ? r : flag.shown;
  }

  /** Whether the flag was on the command line at all. */
  given(flag: Flag<unknown>): boolean {
    return this.raw.has(flag.name);
  }
}

/** Splits `--name=value` and finds its declaration (`--no-x` names switch x). */
function lookup(a: string, byName: Map<string, Flag<unknown>>, o: ParseOptions) {
  const eq = a.indexOf('=');
  const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
  const value = eq === -1 ? undefined : a.slice(eq + 1);
  const flag = byName.get(name);
  if (flag) return { flag, value, negated: false };
  const positive = name.startsWith('no-') ? byName.get(name.slice(3)) : undefined;
  if (positive?.kind === 'bool') {
    if (value !== undefined) throw usageError(`option --${name} takes no value`);
    return { flag: positive, value, negated: true };
  }
  throw unknownOption(`--${name}`, byName, o);
}

/** An option the command does not take, with the one it probably meant. */
function unknownOption(given: string, byName: Map<string, Flag<unknown>>, o: ParseOptions) {
  const meant = closest(given.replace(/^-+/, ''), [...byName.keys()]);
  const hint = meant
    ? `did you mean --${meant}? (ferry ${o.command} --help lists the options)`
    : `run ferry ${o.command} --help for the list of options`;
  return usageError(`unknown option '${given}'`, hint);
}

export function parseArgs(argv: string[], flags: Flag<unknown>[], o: ParseOptions): Args {
  const byName = new Map(flags.map((f) => [f.name, f]));
  const raw = new Map<string, Raw>();
  const positionals: string[] = [];
  const spans: Span[] = [];
  // Every value is read once here, so a bad one is reported before anything else is looked at.
  const done = (rest: string[]) => {
    for (const name of raw.keys()) byName.get(name)?.read(raw.get(name));
    return new Args(raw, positionals, rest, spans);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return done(argv.slice(i + 1));
    if (a === '-h') {
      raw.set('help', true);
      continue;
    }
    if (!a.startsWith('--') || a === '-') {
      if (a.startsWith('-') && a !== '-') throw unknownOption(a, byName, o);
      if (o.solverAtFirstPositional) return done(argv.slice(i));
      positionals.push(a);
      continue;
    }
    const { flag, value, negated } = lookup(a, byName, o);
    if (flag.kind === 'bool') {
      if (value !== undefined) throw usageError(`option --${flag.name} takes no value`);
      raw.set(flag.name, !negated);
      spans.push({ flag: flag.name, tokens: [a] });
      continue;
    }
    if (value === undefined && i + 1 >= argv.length) throw usageError(`option --${flag.name} needs a value`);
    const v = value ?? argv[++i];
    spans.push({ flag: flag.name, tokens: value === undefined ? [a, v] : [a], value: v });
    const prev = raw.get(flag.name);
    raw.set(flag.name, flag.kind === 'multi' ? [...(Array.isArray(prev) ? prev : []), v] : v);
  }
  return done([]);
}
