import { AZURE_FLAGS, NET_FLAGS, OUTPUT_FLAGS, S3_FLAGS } from '../../config.ts';
import { OUTPUT } from '../../config/run-flags.ts';
import { count, text, toggle } from '../../flags/flag.ts';
import type { CommandSpec } from '../spec.ts';

export const JSON_FLAG = toggle('json', {
  dflt: false,
  help: 'the same as JSON lines: {"type":"row",...} per row, then {"type":"counts",...}',
});
export const RETRY_CSV = text('retry-csv', {
  arg: 'FILE',
  help:
    'write the rows that are not complete (same columns, same cells) as a run\n' +
    'definition to submit as a new DOE; a re-run of a row resumes where it stopped.\n' +
    'Written even when empty. Needs inputs.csv (not --output)',
});
export const HTML = text('html', {
  arg: 'FILE',
  help:
    'one self-contained page (no network, no script): a grid of rows coloured by\n' +
    'status, a duration bar and the bytes out per row, the rows that need attention\n' +
    'first with their exit code and the last lines of their uploaded ferry.log',
});
/**
 * Rows, not files: a name of its own (--concurrency counts files in flight everywhere). Each row is a
 * few small requests, so more at once than the files in flight of a transfer.
 */
export const ROW_CONCURRENCY = count('row-concurrency', { dflt: 16, max: 1000, help: 'rows read at once' });

export const DOE_STATUS: CommandSpec = {
  name: 'doe status',
  usage: ['ferry doe status inputs.csv [options]', 'ferry doe status --output s3://BUCKET/PREFIX/ [options]'],
  summary: "every row's outcome; the rows to retry; an HTML report",
  about: `Reads every row's outcome back from its output prefix (the manifest, _SUCCESS, the lease of a run
under way), rows side by side, and prints one line per row: name, status, the solver's exit code,
output files and bytes, duration, ferry version; then a count per status. Statuses:
  failed         the row failed before its solver started (the error is in the note)
  complete       the solver exited 0 and every output is verified (manifest complete + _SUCCESS)
  solver-failed  the solver exited non-zero (its outputs are uploaded and verified)
  incomplete     stopped by a signal, or files not verified (or complete without _SUCCESS)
  started        objects but no manifest yet: running, or the run died without one
  no-output      nothing under the output prefix: the row never ran
Rows come from the run definition file (the s3_output column; named after what differs between
the outputs), or with --output from the folders directly under that prefix (a row that wrote
nothing has no folder there, so it cannot be listed that way). Reading needs s3:GetObject and
s3:ListBucket on the outputs.`,
  flags: [OUTPUT, JSON_FLAG, RETRY_CSV, HTML, ROW_CONCURRENCY],
  // Not the transfer options: rows are read a few small requests each (--row-concurrency at once).
  groups: [S3_FLAGS, AZURE_FLAGS, NET_FLAGS, OUTPUT_FLAGS],
  examples: [
    'ferry doe status inputs.csv --aws-config config',
    'ferry doe status inputs.csv --aws-config config --retry-csv retry.csv --html status.html',
    'ferry doe status --output s3://my-simulation-data/output/ --aws-config config --json',
  ],
  exit: 'Exit: 0 when every row is complete, 1 when one is not; 64/66/69/77 when the rows cannot be read.',
};
