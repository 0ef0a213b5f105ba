import { readdirSync } from 'node:fs';
import type { RunConfig } from '../config.ts';
import { FerryError } from '../errors.ts';
import { formatBytes } from '../log.ts';
import { checkCommand, planLaunch } from '../phases/solve.ts';
import { getRange, headObject, listPrefix } from '../s3/download.ts';
import { classifyS3Error } from '../s3/errors.ts';
import { isOwnFile, isZipName, RUN_LOG } from '../names.ts';
import { formatUri, isPrefix } from '../uri.ts';
import { readCentralDirectory } from '../zip/central.ts';
import { s3Handle, type CommandContext } from './context.ts';

/** `ferry run --dry-run`: what would be downloaded, launched, uploaded and deleted. Writes nothing. */
export async function dryRun(cfg: RunConfig, ctx: CommandContext, neverUploaded: string[]): Promise<number> {
  const out: string[] = [`dry run in ${cfg.workdir}: nothing is downloaded, run, uploaded or deleted`, '', 'download:'];
  const { client, via } = s3Handle(cfg.s3, cfg.transfer, ctx.env, ctx.log);
  const fail = (err: unknown, target: string) => classifyS3Error(err, { phase: 'download', op: 'dry run', target, endpoint: via });
  try {
    for (const u of cfg.inputs) {
      if (isPrefix(u)) {
        const objs = await listPrefix(client, u, ctx.stop).catch((e) => { throw fail(e, formatUri(u)); });
        out.push(`  ${formatUri(u)}: ${objs.length} object(s), ${formatBytes(objs.reduce((n, o) => n + o.size, 0))} (zips among them extracted where they land)`);
        continue;
      }
      const obj = await headObject(client, u, ctx.stop).catch((e) => { throw fail(e, formatUri(u)); });
      if (!isZipName(u.key)) {
        out.push(`  ${formatUri(u)}: ${formatBytes(obj.size)}, saved as ${u.key.split('/').pop()}`);
        continue;
      }
      const cd = await readCentralDirectory(formatUri(u), obj.size, (s, e) => getRange(client, u, obj.etag, s, e, { attempts: cfg.s3.maxAttempts, signal: ctx.stop })).catch((e) => {
        throw e instanceof FerryError ? e : fail(e, formatUri(u));
      });
      out.push(`  ${formatUri(u)}: ${formatBytes(obj.size)}, extracted here: ${cd.entries.length} entries, ${formatBytes(cd.entries.reduce((n, x) => n + x.size, 0))}`);
    }
    out.push('', 'launch:');
    const launch = await planLaunch(cfg.mpi, cfg.solver, cfg.workdir, ctx.env);
    out.push(`  ${[launch.file, ...launch.args].join(' ')}`, ...launch.notes.map((n) => `  (${n})`));
    try {
      checkCommand(cfg.solver[0], 'solver', cfg.workdir, ctx.env, '');
    } catch {
      out.push(`  note: '${cfg.solver[0]}' is not found now; it must come from the input or be on PATH on the node`);
    }
    const existing = await listPrefix(client, cfg.output, ctx.stop).catch((e) => { throw fail(e, formatUri(cfg.output)); });
    out.push('', 'upload:');
    out.push(`  every file the run creates or changes → ${formatUri(cfg.output)}<path>${cfg.uploadAll ? ' (--upload-all: every file in the run directory)' : ''}`);
    out.push(cfg.liveUpload ? `  while the solver runs: files unchanged for ${cfg.settleSeconds} s` : '  only after the solver exits (--no-live-upload)');
    out.push(`  never: ${neverUploaded.join(', ')}, symbolic links`);
    out.push(`  then ${formatUri(cfg.output)}_manifest.json, and _SUCCESS last if the solver exits 0 and every file is verified`);
    if (existing.length > 0) out.push(`  the prefix already holds ${existing.length} object(s): files with the same bytes are not sent again`);
    out.push('', 'delete:');
    const entries = readdirSync(cfg.workdir).filter((n) => n !== RUN_LOG && !isOwnFile(n));
    const named = entries.filter((n) => neverUploaded.includes(n));
    const others = entries.filter((n) => !neverUploaded.includes(n));
    if (cfg.keep) out.push('  nothing (--keep)');
    else if (cfg.wipeAll) out.push(`  once every upload is verified: everything in ${cfg.workdir} except ${RUN_LOG} (--wipe-all)`);
    else {
      out.push(`  once every upload is verified: the inputs as extracted, the outputs as uploaded${named.length ? `, ${named.join(', ')}` : ''}`);
      out.push(`  kept: ${RUN_LOG}${others.length ? `, and what was here before (${others.join(', ')})` : ''}`);
    }
  } finally {
    client.destroy();
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
