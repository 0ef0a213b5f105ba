import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { storeSettings, transferSettings } from '../../config.ts';
import type { Flag } from '../../flags/flag.ts';
import { OUTPUT } from '../../config/run-flags.ts';
import type { Args } from '../../flags/parse.ts';
import { csvHeader, formatCsv } from '../../csv.ts';
import { htmlReport } from '../../doe/html.ts';
import { readRows } from '../../doe/read-rows.ts';
import { countsLine, jsonReport, textReport } from '../../doe/report.ts';
import { retryRows } from '../../doe/retry.ts';
import { rowsFromCsv, rowsUnder } from '../../doe/rows.ts';
import type { Row, RowState } from '../../doe/status.ts';
import { writeWhole } from '../../doe/write.ts';
import { EXIT, usageError } from '../../errors.ts';
import { asPrefix, formatUri, parseUri, type Location } from '../../location.ts';
import { LEASE_TTL_MS } from '../../prefix/lease.ts';
import { versionLine } from '../../version.ts';
import { openStores, type CommandContext } from '../context.ts';
import { DOE_STATUS, HTML, JSON_FLAG, RETRY_CSV, ROW_CONCURRENCY } from './spec.ts';
import { parseFor } from '../spec.ts';

interface Asked {
  /** The run definition file, or the output prefix whose folders are the rows. */
  csvFile?: string;
  output?: Location;
  json: boolean;
  retryCsv?: string;
  html?: string;
  rowsAtOnce: number;
}

/** A file ferry is asked to write: its folder must exist, and it must not be the run definition itself. */
function outFile(p: Args, flag: Flag<string | undefined>, cwd: string, csvFile?: string): string | undefined {
  const v = p.get(flag);
  if (v === undefined) return undefined;
  const path = resolve(cwd, v);
  if (path === csvFile)
    throw usageError(`--${flag.name} would overwrite the run definition ${csvFile}`, 'name another file');
  if (!existsSync(dirname(path)) || !statSync(dirname(path)).isDirectory())
    throw usageError(`--${flag.name}: the folder ${dirname(path)} does not exist`);
  return path;
}

function parseStatus(p: Args, cwd: string): Asked {
  const out = p.get(OUTPUT);
  if (p.positionals.length + (out === undefined ? 0 : 1) !== 1)
    throw usageError(
      'ferry doe status takes the run definition file (inputs.csv), or --output s3://BUCKET/PREFIX/ (one of them)',
      'e.g. ferry doe status inputs.csv --aws-config config',
    );
  const csvFile = p.positionals[0] === undefined ? undefined : resolve(cwd, p.positionals[0]);
  if (csvFile && !existsSync(csvFile)) throw usageError(`run definition not found: ${csvFile}`);
  if (out !== undefined && p.get(RETRY_CSV) !== undefined)
    throw usageError(
      '--retry-csv needs the run definition file: with --output ferry knows the outputs of the rows, not their inputs',
      'pass inputs.csv instead of --output',
    );
  return {
    csvFile,
    output: out === undefined ? undefined : asPrefix(parseUri(out, '--output')),
    json: p.get(JSON_FLAG),
    retryCsv: outFile(p, RETRY_CSV, cwd, csvFile),
    html: outFile(p, HTML, cwd, csvFile),
    rowsAtOnce: p.get(ROW_CONCURRENCY),
  };
}

/** The files asked for: the retry run definition (always written, so an old one never lingers) and the page. */
async function writeFiles(ctx: CommandContext, a: Asked, states: RowState[], csvText?: string): Promise<void> {
  if (a.retryCsv && csvText !== undefined) {
    const rows = retryRows(states);
    await writeWhole(a.retryCsv, formatCsv(csvHeader(csvText), rows));
    ctx.log.info(
      rows.length > 0
        ? `wrote ${a.retryCsv}: the ${rows.length} row(s) that are not complete, to submit as a new DOE`
        : `wrote ${a.retryCsv}: no row (every row is complete)`,
    );
  }
  if (a.html) {
    const source = a.csvFile ?? formatUri(a.output!);
    const page = htmlReport(states, { source, ferry: versionLine(), at: new Date() });
    await writeWhole(a.html, ctx.log.masker.mask(page));
    ctx.log.info(`wrote ${a.html}`);
  }
}

/**
 * `ferry doe status inputs.csv | --output URI`: every row's outcome read back from its output
 * prefix (manifest, _SUCCESS, lease), one line per row and a count per status; --json as JSON
 * lines; --retry-csv the rows that are not complete; --html a page. Exit 0 only when every row is
 * complete (1 otherwise).
 */
export async function doeStatusCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(DOE_STATUS, ctx.argv);
  const a = parseStatus(p, ctx.cwd);
  const csvText = a.csvFile === undefined ? undefined : readFileSync(a.csvFile, 'utf8');
  const transfer = { ...transferSettings(p), filesInFlight: a.rowsAtOnce, partsPerFile: 1 };
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), transfer);
  let states: RowState[];
  try {
    const rows: Row[] =
      csvText !== undefined
        ? rowsFromCsv(csvText, a.csvFile!)
        : await rowsUnder(await stores.for(a.output!), a.output!, { phase: 'download', signal: ctx.stop });
    ctx.log.info(`reading ${rows.length} row(s), ${Math.min(a.rowsAtOnce, rows.length)} at a time`);
    states = await readRows((loc) => stores.for(loc), rows, {
      concurrency: a.rowsAtOnce,
      signal: ctx.stop,
      logTail: a.html !== undefined,
      leaseTtlMs: Number(ctx.env.FERRY_LEASE_TTL_SECONDS) * 1000 || LEASE_TTL_MS,
      mask: (line) => ctx.log.masker.mask(line),
    });
  } finally {
    await stores.close();
  }
  // Masked like everything ferry writes: a store's URIs may carry a secret (a token).
  const mask = (text: string) => ctx.log.masker.mask(text);
  process.stdout.write(mask(a.json ? jsonReport(states) : textReport(states)));
  await writeFiles(ctx, a, states, csvText);
  const complete = states.every((s) => s.status === 'complete');
  if (!complete) ctx.log.info(`not every row is complete (${countsLine(states)})`);
  return complete ? EXIT.ok : EXIT.checkFailed;
}
