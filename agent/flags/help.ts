// --help, rendered from the declarations: a command's usage, text and examples, its own flags, and the
// groups of flags it shares with the other commands (store, network, transfer, output).
import type { Flag } from './flag.ts';

/** Flags several commands take, declared once by what they configure (config/). */
export interface FlagGroup {
  title: string;
  flags: Flag<unknown>[];
  /** Printed after the group's flags. */
  note?: string;
}

/** What --help says of a command. */
export interface HelpText {
  /** Synopsis lines, without `Usage:`. */
  usage: string[];
  about: string;
  /** The command's own flags. */
  flags: Flag<unknown>[];
  /** The groups it also takes ("plus the … options of ferry --help"). */
  groups: FlagGroup[];
  examples: string[];
  exit?: string;
}

/** Every flag a command accepts: its own, then its groups'. */
export function flagsOf(h: HelpText): Flag<unknown>[] {
  return [...h.flags, ...h.groups.flatMap((g) => g.flags)];
}

const COLUMN = 26;

/** `  --name ARG   help`, continuation lines indented, the default last. */
export function renderFlag(f: Flag<unknown>): string {
  const head = `  --${f.shownAs ?? f.name}${f.kind === 'bool' ? '' : ` ${f.arg}`}`;
  const lines = f.help.split('\n');
  if (f.shown !== undefined && !/default/.test(f.help)) lines[lines.length - 1] += ` (default ${f.shown})`;
  const first =
    head.length < COLUMN ? `${head.padEnd(COLUMN)}${lines[0]}` : `${head}\n${' '.repeat(COLUMN)}${lines[0]}`;
  return [first, ...lines.slice(1).map((l) => `${' '.repeat(COLUMN)}${l}`)].join('\n');
}

export function renderGroup(g: FlagGroup): string {
  return [`${g.title}:`, ...g.flags.map(renderFlag), ...(g.note ? [g.note] : [])].join('\n');
}

/** `ferry COMMAND --help`. */
export function renderHelp(spec: HelpText): string {
  const usage = spec.usage.map((u, i) => `${i === 0 ? 'Usage: ' : '       '}${u}`);
  const parts = [usage.join('\n'), spec.about];
  const own = spec.flags.filter((f) => f.name !== 'help');
  const shared = spec.groups.map((g) => g.title.replace(/ options.*$/, '')).join(', ');
  if (own.length > 0 || shared)
    parts.push(
      ['Options:', ...own.map(renderFlag), ...(shared ? [`  plus the ${shared} options of ferry --help`] : [])].join(
        '\n',
      ),
    );
  parts.push(['Examples:', ...spec.examples.map((e) => `  ${e}`)].join('\n'));
  if (spec.exit) parts.push(spec.exit);
  return `${parts.join('\n\n')}\n`;
}
