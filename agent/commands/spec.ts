import { flagsOf, type HelpText } from '../flags/help.ts';
import { parseArgs, type Args } from '../flags/parse.ts';
import type { CommandContext } from './context.ts';

export type Command = (ctx: CommandContext) => Promise<number>;

/** A command's flags and help, declared in its folder's spec.ts (which loads nothing heavy). */
export interface CommandSpec extends HelpText {
  /** `run`, `doe status`. */
  name: string;
  /** One line for the command list of ferry --help. */
  summary: string;
  /** run: the first positional starts the solver's argv (its own flags never reach ferry's parser). */
  solverAtFirstPositional?: boolean;
}

/**
 * A command as the entry point knows it: its spec, and the command itself, loaded only when it runs
 * (--help never pays for the S3 SDK, unzipper or execa).
 */
export interface Registered extends CommandSpec {
  load(): Promise<Command>;
}

/** The command line of `spec`'s command, parsed by its declarations. */
export function parseFor(spec: CommandSpec, argv: string[]): Args {
  return parseArgs(argv, flagsOf(spec), { command: spec.name, solverAtFirstPositional: spec.solverAtFirstPositional });
}
