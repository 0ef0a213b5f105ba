import { choice, HELP, toggle } from '../flags/flag.ts';
import type { FlagGroup } from '../flags/help.ts';

// Read by the entry point before a command parses its flags (so the command's own errors obey them).
export const LOG_FORMAT = choice('log-format', ['text', 'json'], {
  help: 'json: one JSON event per line (phase, bytes, files, duration, errors)',
});
export const QUIET = toggle('quiet', { dflt: false, help: "only errors and the solver's output on the console" });

/** What every command prints, and how. */
export const OUTPUT_FLAGS: FlagGroup = { title: 'Output options', flags: [LOG_FORMAT, QUIET, HELP] };
