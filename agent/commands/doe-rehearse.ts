import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import pLimit from 'p-limit';
import { parseArgs, positiveInt, str } from '../args.ts';
import { RUN_FLAGS, s3Settings, transferSettings } from '../config.ts';
import { parseCsv, render } from '../csv.ts';
import { EXIT, usageError } from '../errors.ts';
import { formatBytes } from '../log.ts';
import { asPrefix, formatUri, overlaps, parseUri, under } from '../location.ts';
import { MANIFEST } from '../names.ts';
import type { Manifest } from '../phases/manifest.ts';
import { selfCommand } from '../version.ts';
import { openStores, type CommandContext } from './context.ts';
import { VARS_TEMPLATE } from './doe-init.ts';

const OWN = new Set(['--slots', '--vars-template', '--rehearsal-dir']);

interface RowResult {
  row: number;
  exit: number;
  ms: number;
  output: string;
  bytesIn?: number;
  bytesOut?: number;
  status: string;
}

/**
 * `ferry doe rehearse inputs.csv --slots N [run options] -- SOLVER…`: every row run locally as the
 * platform would (a fresh run directory per row, the vars template rendered, the config copied in,
 * N rows at once), then a table per row: exit code, bytes in/out, wall time, output, status.
 */
export async function doeRehearseCommand(ctx: CommandContext): Promise<number> {
  const dash = ctx.argv.indexOf('--');
  const head = dash === -1 ? ctx.argv : ctx.argv.slice(0, dash);
  const solver = dash === -1 ? [] : ctx.argv.slice(dash + 1);
  const own = new Map<string, string>();
  const pass: string[] = [];
  let csvPath: string | undefined;
  for (let i = 0; i < head.length; i++) {
    if (OWN.has(head[i])) own.set(head[i], head[++i] ?? '');
    else if (
      !head[i].startsWith('-') &&
      csvPath === undefined &&
      (i === 0 || !head[i - 1].startsWith('--') || head[i - 1].includes('='))
    )
      csvPath = head[i];
    else pass.push(head[i]);
  }
  if (!csvPath || solver.length === 0)
    throw usageError(
      'ferry doe rehearse needs inputs.csv and the solver after --',
      'e.g. ferry doe rehearse inputs.csv --slots 2 --aws-config config -- converge super',
    );
  const runFlags = parseArgs([...pass, '--', ...solver], RUN_FLAGS, true);
  for (const f of ['input', 'output', 'vars', 'workdir'])
    if (runFlags.flags.has(f)) throw usageError(`--${f} comes from inputs.csv in a rehearsal; remove it`);
  const slots = positiveInt(own.get('--slots') ?? '1', '--slots');
  const csvFile = resolve(ctx.cwd, csvPath);
  if (!existsSync(csvFile)) throw usageError(`run definition not found: ${csvFile}`);
  const rows = parseCsv(readFileSync(csvFile, 'utf8'), csvFile);
  checkDistinctOutputs(rows, csvFile);
  const tmplPath = resolve(ctx.cwd, own.get('--vars-template') ?? join(dirname(csvFile), VARS_TEMPLATE));
  const template = existsSync(tmplPath)
    ? readFileSync(tmplPath, 'utf8')
    : 's3_input=${s3_input}\ns3_output=${s3_output}\n';
  const base = resolve(ctx.cwd, own.get('--rehearsal-dir') ?? 'rehearsal');
  const config = str(runFlags, 'aws-config');
  const configPath = config === undefined ? undefined : resolve(ctx.cwd, config);
  const passArgs = pass.map((a, i) =>
    pass[i - 1] === '--aws-config' ? 'config' : a.startsWith('--aws-config=') ? '--aws-config=config' : a,
  );
  const self = selfCommand(ctx.env);
  ctx.log.info(`rehearsing ${rows.length} row(s), ${slots} at a time, in ${base}`);

  const limit = pLimit(slots);
  const results = await Promise.all(
    rows.map((row, i) =>
      limit(async (): Promise<RowResult> => {
        const dir = join(base, `row-${i + 1}`);
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, VARS_TEMPLATE), render(template, row));
        if (configPath) copyFileSync(configPath, join(dir, 'config'));
        const t0 = Date.now();
        const child = execa(self, ['run', '--vars', VARS_TEMPLATE, ...passArgs, '--', ...solver], {
          cwd: dir,
          env: ctx.env,
          extendEnv: false,
          reject: false,
          stdin: 'ignore',
          all: true,
          buffer: false,
          lines: true,
        });
        for await (const line of child.iterable({ from: 'all' })) ctx.log.solver(`[row ${i + 1}] ${line}\n`, 'stdout');
        const r = await child;
        return { row: i + 1, exit: r.exitCode ?? 1, ms: Date.now() - t0, output: row.s3_output, status: 'no manifest' };
      }),
    ),
  );

  // Bytes and status from each row's manifest.
  const stores = openStores(ctx, s3Settings(runFlags, ctx.env, ctx.cwd), transferSettings(runFlags));
  try {
    for (const r of results) {
      const prefix = asPrefix(parseUri(r.output, 's3_output'));
      const got = await (
        await stores.for(prefix)
      )
        .fetch(under(prefix, MANIFEST), { phase: 'download' })
        .catch(() => undefined);
      if (!got) continue; // no manifest: the row failed before its upload phase
      const m = JSON.parse(got.body.toString()) as Manifest;
      r.status = m.status;
      r.bytesIn = m.inputs.reduce((n, x) => n + x.size, 0);
      r.bytesOut = m.outputs.reduce((n, x) => n + x.size, 0);
    }
  } finally {
    await stores.close();
  }
  const table = [
    ['row', 'exit', 'in', 'out', 'wall', 'status', 'output'],
    ...results.map((r) => [
      String(r.row),
      String(r.exit),
      r.bytesIn === undefined ? '-' : formatBytes(r.bytesIn),
      r.bytesOut === undefined ? '-' : formatBytes(r.bytesOut),
      `${(r.ms / 1000).toFixed(1)} s`,
      r.status,
      r.output,
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  process.stdout.write(
    `\n${table
      .map((row) =>
        row
          .map((cell, c) => cell.padEnd(widths[c]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n')}\n`,
  );
  const failed = results.find((r) => r.exit !== 0);
  ctx.log.info(
    failed
      ? `row ${failed.row} failed (exit ${failed.exit}); see ${join(base, `row-${failed.row}`, 'ferry.log')}`
      : `all ${results.length} rows succeeded (${basename(csvFile)})`,
  );
  return failed ? failed.exit : EXIT.ok;
}

/** Two rows writing under one output prefix would trample each other: refused before anything runs. */
export function checkDistinctOutputs(rows: Array<Record<string, string>>, source: string): void {
  const outs = rows.map((r, i) => ({
    line: i + 2,
    uri: asPrefix(parseUri(r.s3_output, `${source}:${i + 2} s3_output`)),
  }));
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length; j++) {
      if (!overlaps(outs[i].uri, outs[j].uri)) continue;
      const same = outs[i].uri.key === outs[j].uri.key;
      throw usageError(
        `${source}: rows on lines ${outs[i].line} and ${outs[j].line} ${same ? 'have the same' : 'have nested'} s3_output (${formatUri(outs[i].uri)}, ${formatUri(outs[j].uri)})`,
        'every row needs an output prefix of its own (a copy-paste slip?): fix the run definition',
      );
    }
  }
}
