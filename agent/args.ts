import { usageError } from './errors.ts';

/** One flag a command accepts. `multi` flags may repeat; `bool` flags take no value. */
export interface FlagSpec {
  name: string;
  kind: 'string' | 'bool' | 'multi';
}

export interface ParsedArgs {
  flags: Map<string, string | boolean | string[]>;
  positionals: string[];
  /** For `run`: everything from the first positional (or after `--`) on, untouched. */
  rest: string[];
}

/**
 * Parses `--flag value`, `--flag=value`, `--no-x` for bools. With `stopAtPositional`, the first
 * positional and everything after it are the solver's argv (so the solver's own flags never reach
 * ferry's parser); otherwise positionals are collected and `--` ends flags.
 */
export function parseArgs(argv: string[], specs: FlagSpec[], stopAtPositional: boolean): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const flags = new Map<string, string | boolean | string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      return { flags, positionals, rest: argv.slice(i + 1) };
    }
    if (a === '-h') {
      flags.set('help', true);
      continue;
    }
    if (!a.startsWith('--') || a === '-') {
      if (a.startsWith('-') && a !== '-')
        throw usageError(`unknown option '${a}'`, 'run ferry --help for the list of options');
      if (stopAtPositional) return { flags, positionals, rest: argv.slice(i) };
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    let name = eq === -1 ? a.slice(2) : a.slice(2, eq);
    let spec = byName.get(name);
    if (!spec && name.startsWith('no-') && byName.get(name.slice(3))?.kind === 'bool') {
      spec = byName.get(name.slice(3));
      name = name.slice(3);
      if (eq !== -1) throw usageError(`option --no-${name} takes no value`);
      flags.set(name, false);
      continue;
    }
    if (!spec) throw usageError(`unknown option '--${name}'`, 'run ferry --help for the list of options');
    if (spec.kind === 'bool') {
      if (eq !== -1) throw usageError(`option --${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let value: string;
    if (eq !== -1) value = a.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw usageError(`option --${name} needs a value`);
      value = argv[++i];
    }
    if (spec.kind === 'multi') {
      const prev = flags.get(name);
      flags.set(name, Array.isArray(prev) ? [...prev, value] : [value]);
    } else flags.set(name, value);
  }
  return { flags, positionals, rest: [] };
}

export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

export function bool(p: ParsedArgs, name: string): boolean | undefined {
  const v = p.flags.get(name);
  return typeof v === 'boolean' ? v : undefined;
}

export function list(p: ParsedArgs, name: string): string[] {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
}

/** A positive integer up to `max` from a flag or variable; `what` names it in the error. */
export function positiveInt(text: string, what: string, max = 1_000_000): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw usageError(`${what} must be a whole number from 1 to ${max}, got '${text}'`);
  }
  return n;
}

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Sizes like `8MiB`, `64M`, `1048576` (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0 || !Number.isSafeInteger(Math.floor(Number(m[1]) * unit))) {
    throw usageError(`${what} must be a size like 8MiB or 512KiB, got '${text}'`);
  }
  return Math.floor(Number(m[1]) * unit);
}
