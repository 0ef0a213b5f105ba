import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import pLimit from 'p-limit';
import { PAC_AUTO, storeSettings, transferSettings } from '../../config.ts';
import { INPUT, OUTPUT, VARS, WORKDIR } from '../../config/run-flags.ts';
import type { Args, Span } from '../../flags/parse.ts';
import { parseCsv, render } from '../../csv.ts';
import { checkDistinctOutputs, readManifest, rowsFromCsv } from '../../doe/rows.ts';
import { renderTable } from '../../doe/table.ts';
import { EXIT, usageError } from '../../errors.ts';
import { asPrefix, formatUri, parseUri, under } from '../../location.ts';
import { formatBytes } from '../../log.ts';
import { REHEARSAL, RUN_LOG } from '../../names.ts';
import { selfCommand } from '../../version.ts';
import { openStores, type CommandContext } from '../context.ts';
import { VARS_TEMPLATE } from '../doe-init/command.ts';
import { DOE_REHEARSE, REHEARSAL_DIR, SLOTS, VARS_TEMPLATE_FLAG } from './spec.ts';
import { parseFor } from '../spec.ts';

interface RowResult {
  row: number;
  /** The row's name, as doe status calls it (what differs between the outputs). */
  name: string;
  exit: number;
  ms: number;
  output: string;
  bytesIn?: number;
  bytesOut?: number;
  status: string;
}

/** Credentials files a row's run names, and the name of each one's copy in the row's directory. */
const CONFIG_COPIES: Array<[string, string]> = [
  ['aws-config', 'config'],
  ['azure-config', 'azure'],
];

/** What `doe rehearse` was asked: its own options, the run definition, and what goes on to each `ferry run`. */
interface Rehearsal {
  rows: Array<Record<string, string>>;
  /** Each row's name, as doe status calls it. */
  names: string[];
  csvFile: string;
  template: string;
  slots: number;
  base: string;
  /** The credentials files to copy into each row's directory, under the name the row's run uses. */
  configs: Array<{ from: string; as: string }>;
  /** The run options for each row (--aws-config / --azure-config pointing at the row's copy), then -- SOLVER. */
  runArgs: string[];
  runFlags: Args;
}

/** rehearse's own flags: they configure the rehearsal, not the rows' runs. */
const OWN = new Set([SLOTS, VARS_TEMPLATE_FLAG, REHEARSAL_DIR].map((f) => f.name));

/**
 * A row's run options as given, with the credentials files pointing at the row's copy and a proxy
 * account or PAC file at the absolute path (they stay where they are).
 */
function passOn(spans: Span[], cwd: string): string[] {
  const absolute = (v: string) => (/^[a-z]+:\/\//i.test(v) || v.toLowerCase() === PAC_AUTO ? v : resolve(cwd, v));
  return spans
    .filter((s) => !OWN.has(s.flag))
    .flatMap((s) => {
      const copy = CONFIG_COPIES.find(([flag]) => flag === s.flag);
      if (copy) return [`--${s.flag}`, copy[1]];
      if (s.flag !== 'proxy-auth-file' && s.flag !== 'proxy-pac') return s.tokens;
      return [`--${s.flag}`, absolute(s.value!)];
    });
}

function parseRehearsal(ctx: CommandContext): Rehearsal {
  const p = parseFor(DOE_REHEARSE, ctx.argv);
  const [csvPath, ...extra] = p.positionals;
  if (!csvPath || extra.length > 0 || p.rest.length === 0) {
    const hint = 'e.g. ferry doe rehearse inputs.csv --slots 2 --aws-config config -- converge super';
    throw usageError('ferry doe rehearse needs inputs.csv and the solver after --', hint);
  }
  for (const f of [INPUT, OUTPUT, VARS, WORKDIR]) {
    if (p.given(f)) throw usageError(`--${f.name} comes from inputs.csv in a rehearsal; remove it`);
  }
  const csvFile = resolve(ctx.cwd, csvPath);
  if (!existsSync(csvFile)) throw usageError(`run definition not found: ${csvFile}`);
  const text = readFileSync(csvFile, 'utf8');
  const rows = parseCsv(text, csvFile);
  checkDistinctOutputs(rows, csvFile);
  const names = rowsFromCsv(text, csvFile).map((r) => r.name);
  const tmplPath = resolve(ctx.cwd, p.get(VARS_TEMPLATE_FLAG) ?? join(dirname(csvFile), VARS_TEMPLATE));
  const template = existsSync(tmplPath)
    ? readFileSync(tmplPath, 'utf8')
    : 's3_input=${s3_input}\ns3_output=${s3_output}\n';
  const configs = p.spans.flatMap((s) => {
    const copy = CONFIG_COPIES.find(([flag]) => flag === s.flag);
    return copy ? [{ from: resolve(ctx.cwd, s.value!), as: copy[1] }] : [];
  });
  return {
    rows,
    names,
    csvFile,
    template,
    slots: p.get(SLOTS),
    base: resolve(ctx.cwd, p.get(REHEARSAL_DIR) ?? 'rehearsal'),
    configs,
    runArgs: [...passOn(p.spans, ctx.cwd), '--', ...p.rest],
    runFlags: p,
  };
}

/** One row as the platform runs it: a fresh directory, the template rendered, the config copied in. */
async function rehearseRow(
  ctx: CommandContext,
  h: Rehearsal,
  row: Record<string, string>,
  i: number,
): Promise<RowResult> {
  const dir = join(h.base, `row-${i + 1}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Under the row's own prefix, in one of its own: a rehearsal never passes for the row's run.
  const output = formatUri(under(asPrefix(parseUri(row.s3_output, 's3_output')), REHEARSAL));
  writeFileSync(join(dir, VARS_TEMPLATE), render(h.template, { ...row, s3_output: output }));
  for (const c of h.configs) copyFileSync(c.from, join(dir, c.as));
  const t0 = Date.now();
  const child = execa(selfCommand(ctx.env), ['run', '--vars', VARS_TEMPLATE, ...h.runArgs], {
    cwd: dir,
    env: ctx.env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    lines: true,
  });
  for await (const line of child.iterable({ from: 'all' })) ctx.log.solver(`[${h.names[i]}] ${line}\n`, 'stdout');
  const r = await child;
  return {
    row: i + 1,
    name: h.names[i],
    exit: r.exitCode ?? 1,
    ms: Date.now() - t0,
    output,
    status: 'no manifest',
  };
}

/** Bytes and status of each row, from its manifest. */
async function addManifests(ctx: CommandContext, h: Rehearsal, results: RowResult[]): Promise<void> {
  const stores = openStores(ctx, storeSettings(h.runFlags, ctx.env, ctx.cwd), transferSettings(h.runFlags));
  try {
    for (const r of results) {
      const m = await readManifest(stores, asPrefix(parseUri(r.output, 's3_output')), ctx.stop).catch(() => undefined);
      if (!m) continue; // no manifest: the row failed before its upload phase
      r.status = m.status;
      r.bytesIn = (m.inputs ?? []).reduce((n, x) => n + x.size, 0);
      r.bytesOut = m.outputs.reduce((n, x) => n + x.size, 0);
    }
  } finally {
    await stores.close();
  }
}

/**
 * `ferry doe rehearse inputs.csv --slots N [run options] -- SOLVER…`: every row run locally as the
 * platform would (a fresh run directory per row, the vars template rendered, the config copied in,
 * N rows at once), then a table per row: exit code, bytes in/out, wall time, output, status.
 */
export async function doeRehearseCommand(ctx: CommandContext): Promise<number> {
  const h = parseRehearsal(ctx);
  ctx.log.info(`rehearsing ${h.rows.length} row(s), ${h.slots} at a time, in ${h.base}`);
  const limit = pLimit(h.slots);
  const results = await Promise.all(h.rows.map((row, i) => limit(() => rehearseRow(ctx, h, row, i))));
  await addManifests(ctx, h, results);
  const bytes = (n?: number) => (n === undefined ? '-' : formatBytes(n));
  const table = results.map((r) => [
    String(r.row),
    String(r.exit),
    bytes(r.bytesIn),
    bytes(r.bytesOut),
    `${(r.ms / 1000).toFixed(1)} s`,
    r.status,
    r.output,
  ]);
  process.stdout.write(`\n${renderTable([['row', 'exit', 'in', 'out', 'wall', 'status', 'output'], ...table])}\n`);
  const failed = results.find((r) => r.exit !== 0);
  const seeLog = failed && join(h.base, `row-${failed.row}`, RUN_LOG);
  ctx.log.info(
    failed
      ? `row ${failed.name} failed (exit ${failed.exit}); see ${seeLog}`
      : `all ${results.length} rows succeeded (${basename(h.csvFile)})`,
  );
  return failed ? failed.exit : EXIT.ok;
}
