// `ferry run --dry-run`: what each stage would do, read from the stores and the run directory, with
// nothing downloaded, run, uploaded or deleted.
import { readdirSync } from 'node:fs';
import { formatBytes } from '../log.ts';
import { formatUri, isPrefix, under } from '../location.ts';
import { FIXED_OWN, isZipName, MANIFEST, RUN_LOG, RUN_LOG_OBJECT, SUCCESS } from '../names.ts';
import { jobInputs, type JobInputs } from '../rundir/job-inputs.ts';
import { checkSolver, planSolver } from '../solver/plan.ts';
import { planInputs } from '../transfer/fetch.ts';
import { centralDirectoryOf } from '../transfer/fetch-zip.ts';
import type { Row } from './row.ts';

async function download(row: Row): Promise<string[]> {
  const out = ['', 'download:'];
  const signal = row.ctx.stop;
  for (const u of row.cfg.inputs) {
    const store = await row.stores.for(u);
    if (isPrefix(u)) {
      const objs = await store.list(u, { phase: 'download', signal });
      const bytes = formatBytes(objs.reduce((n, o) => n + o.size, 0));
      out.push(`  ${formatUri(u)}: ${objs.length} object(s), ${bytes} (zips among them extracted where they land)`);
      continue;
    }
    const [job] = await planInputs(async () => store, [u], signal);
    if (!isZipName(u.key)) {
      out.push(`  ${formatUri(u)}: ${formatBytes(job.obj.size)}, saved as ${job.rel}`);
      continue;
    }
    const cd = await centralDirectoryOf(store, u, job.obj, signal);
    out.push(
      `  ${formatUri(u)}: ${formatBytes(job.obj.size)}, extracted here: ${cd.entries.length} entries, ` +
        formatBytes(cd.entries.reduce((n, x) => n + x.size, 0)),
    );
  }
  return out;
}

async function launchAndUpload(row: Row): Promise<string[]> {
  const { cfg, ctx } = row;
  const l = await planSolver(cfg.mpi, cfg.solver, cfg.workdir, ctx.env);
  const out = ['', 'launch:', `  ${[l.file, ...l.args].join(' ')}`, ...l.notes.map((n) => `  (${n})`)];
  try {
    checkSolver(cfg, ctx.env);
  } catch {
    out.push(`  note: '${cfg.solver[0]}' is not found now; it must come from the input or be on PATH on the node`);
  }
  const existing = await row.output.list(cfg.output, { phase: 'upload', signal: ctx.stop });
  out.push(
    '',
    'upload:',
    `  every file the run creates or changes → ${formatUri(cfg.output)}<path>` +
      (cfg.uploadAll ? ' (--upload-all: every file in the run directory)' : ''),
  );
  if (existing.length > 0)
    out.push(`  the prefix already holds ${existing.length} object(s): files with the same bytes are not sent again`);
  out.push(
    cfg.liveUpload
      ? `  while the solver runs: files unchanged for ${cfg.settleSeconds} s`
      : '  only after the solver exits (--no-live-upload)',
  );
  return out;
}

function record(row: Row, job: JobInputs): string[] {
  return [
    `  never: ${[...job.anywhere, RUN_LOG].join(', ')}, ferry's own files, symbolic links`,
    `  then ${formatUri(under(row.cfg.output, MANIFEST))}, the run log as ${RUN_LOG_OBJECT}, ` +
      `and ${SUCCESS} last if the solver exits 0 and every file is verified`,
  ];
}

function wipe(row: Row, job: JobInputs): string[] {
  const { cfg } = row;
  const entries = readdirSync(cfg.workdir).filter((n) => !FIXED_OWN.has(n));
  const mine = entries.filter((n) => job.top.has(n));
  const others = entries.filter((n) => !job.top.has(n));
  if (cfg.keep) return ['', 'delete:', '  nothing (--keep)'];
  if (cfg.wipeAll)
    return [
      '',
      'delete:',
      `  once every upload is verified: everything in ${cfg.workdir} except ${RUN_LOG} (--wipe-all)`,
    ];
  return [
    '',
    'delete:',
    '  once every upload is verified: the inputs as extracted, the outputs as uploaded' +
      (mine.length ? `, ${mine.join(', ')}` : ''),
    `  kept: ${RUN_LOG}${others.length ? `, and what was here before (${others.join(', ')})` : ''}`,
  ];
}

/** The --dry-run report, a line each. */
export async function dryRun(row: Row): Promise<string[]> {
  const job = jobInputs(row.cfg, row.ctx.env, row.ctx.cwd);
  return [
    `dry run in ${row.cfg.workdir}: nothing is downloaded, run, uploaded or deleted`,
    ...(await download(row)),
    ...(await launchAndUpload(row)),
    ...record(row, job),
    ...wipe(row, job),
  ];
}
