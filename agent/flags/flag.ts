// A flag is declared once: its name, kind, argument, default, help and how its value is read. The
// parser (parse.ts) and the help (help.ts) both work from these declarations; a command's settings
// read each value through the flag that declares it (`args.get(FLAG)`), so a default lives here only.
import { usageError } from '../errors.ts';
import { parseSize, positiveInt } from './values.ts';

/** How a flag appears on the command line: `--x VALUE`, `--x` / `--no-x`, or `--x VALUE` repeated. */
export type FlagKind = 'string' | 'bool' | 'multi';

/** What the parser collected for a flag: absent, a value, a switch, or the repeated values. */
export type Raw = string | boolean | string[] | undefined;

export interface Flag<T> {
  readonly name: string;
  readonly kind: FlagKind;
  /** The value's placeholder in help: URI, N, SIZE, SECONDS, FILE… */
  readonly arg?: string;
  /** What it does, for --help (lines after the first are continuation lines). */
  readonly help: string;
  /** The default as --help shows it, when there is one. */
  readonly shown?: string;
  /** The name --help shows, when not `name` (`no-mpi` for a switch that is on by default). */
  readonly shownAs?: string;
  /** The value a command reads, from what the parser collected. */
  read(raw: Raw): T;
}

interface Doc {
  help: string;
  arg?: string;
}

/** `--name VALUE`: the text as given, or undefined when absent. */
export function text(name: string, doc: Doc): Flag<string | undefined> {
  return { name, kind: 'string', arg: doc.arg ?? 'VALUE', help: doc.help, read: (r) => asText(r) };
}

/** `--name VALUE` limited to `values`. */
export function choice<V extends string>(name: string, values: readonly V[], doc: Doc): Flag<V | undefined> {
  return {
    name,
    kind: 'string',
    arg: doc.arg ?? values.join('|'),
    help: doc.help,
    read(r) {
      const v = asText(r);
      if (v === undefined || (values as readonly string[]).includes(v)) return v as V | undefined;
      throw usageError(`--${name} must be ${values.join(' or ')}, got '${v}'`);
    },
  };
}

/** `--name VALUE`, repeatable: every value in order. */
export function texts(name: string, doc: Doc): Flag<string[]> {
  return { name, kind: 'multi', arg: doc.arg ?? 'VALUE', help: doc.help, read: (r) => (Array.isArray(r) ? r : []) };
}

/** `--name` / `--no-name`: true, false, or `dflt` when neither is given. */
export function toggle(name: string, doc: Doc & { dflt: boolean }): Flag<boolean> {
  const shownAs = doc.dflt ? `no-${name}` : undefined;
  return { name, kind: 'bool', help: doc.help, shownAs, read: (r) => (typeof r === 'boolean' ? r : doc.dflt) };
}

/** A whole number from 1 to `max`, or `dflt` (undefined: the command decides, e.g. from the environment). */
export function count<D extends number | undefined>(
  name: string,
  doc: Doc & { dflt: D; max?: number },
): Flag<number | D> {
  const shown = doc.dflt === undefined ? undefined : String(doc.dflt);
  const parse = (v: string) => positiveInt(v, `--${name}`, doc.max ?? 1_000_000);
  return { name, kind: 'string', arg: doc.arg ?? 'N', help: doc.help, shown, read: readWith(doc.dflt, parse) };
}

/** A size like 8MiB (binary units), or `dflt` (given as text: --help shows it so). */
export function size<D extends string | undefined>(name: string, doc: Doc & { dflt: D }): Flag<number | Undef<D>> {
  const parse = (v: string) => parseSize(v, `--${name}`);
  const dflt = (doc.dflt === undefined ? undefined : parse(doc.dflt)) as number | Undef<D>;
  return { name, kind: 'string', arg: doc.arg ?? 'SIZE', help: doc.help, shown: doc.dflt, read: readWith(dflt, parse) };
}

type Undef<D> = D extends undefined ? undefined : never;

/** A number of seconds > 0, or `dflt`. */
export function secs(name: string, doc: Doc & { dflt: number }): Flag<number> {
  const parse = (v: string) => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n > 0))
      throw usageError(`--${name} must be a number of seconds > 0, got '${v}'`);
    return n;
  };
  return {
    name,
    kind: 'string',
    arg: doc.arg ?? 'SECONDS',
    help: doc.help,
    shown: String(doc.dflt),
    read: readWith(doc.dflt, parse),
  };
}

function asText(r: Raw): string | undefined {
  return typeof r === 'string' ? r : undefined;
}

function readWith<T, D>(dflt: D, parse: (v: string) => T): (r: Raw) => T | D {
  return (r) => {
    const v = asText(r);
    return v === undefined ? dflt : parse(v);
  };
}

/** `--help` / `-h`: every command takes it. */
export const HELP = toggle('help', { help: 'this text', dflt: false });
