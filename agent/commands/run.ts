import { realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseArgs } from '../args.ts';
import { RUN_FLAGS, runConfig, type RunConfig } from '../config.ts';
import { EXIT, FerryError, localIoError, signalExit } from '../errors.ts';
import { buildLaunch } from '../mpi/launch.ts';
import { fetchInputs } from '../phases/fetch-input.ts';
import { scanTree, selectOutputs } from '../phases/outputs.ts';
import { checkCommand, mpiFlavor, runSolver } from '../phases/solve.ts';
import { LiveUpload } from '../phases/live-upload.ts';
import { Uploader, uploadTree, type UploadOutcome } from '../phases/upload.ts';
import { wipeRunDir } from '../phases/wipe.ts';
import { formatBytes } from '../log.ts';
import { formatUri } from '../uri.ts';
import { versionLine } from '../version.ts';
import { s3Handle, type CommandContext } from './context.ts';

export const RUN_LOG = 'ferry.log';
const GRACE_MS = 60_000;

/** Files in the run dir that are never uploaded: the run log, the credentials, ferry itself. */
function neverUpload(cfg: RunConfig, env: NodeJS.ProcessEnv): Set<string> {
  const out = new Set([RUN_LOG]);
  const self = env.FERRY_SELF ?? process.execPath;
  for (const f of [cfg.s3.awsConfigFile, self]) {
    if (!f) continue;
    let real = f;
    try {
      real = realpathSync(f);
    } catch {
      // gone already
    }
    const rel = relative(realpathSync(cfg.workdir), real);
    if (!rel.startsWith('..') && !rel.startsWith(sep)) out.add(rel.split(sep).join('/'));
  }
  return out;
}

export async function runCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, RUN_FLAGS, true);
  const cfg = runConfig(p, ctx.env, ctx.cwd);
  const { log } = ctx;
  try {
    log.attachFile(join(cfg.workdir, RUN_LOG));
  } catch (err) {
    throw localIoError(err, 'config', join(cfg.workdir, RUN_LOG));
  }
  log.info(versionLine());
  log.info(`run dir ${cfg.workdir}; input ${cfg.inputs.map(formatUri).join(', ')}; output ${formatUri(cfg.output)}`);

  const skip = neverUpload(cfg, ctx.env);
  const isTemp = (rel: string) => rel.includes('.ferry-part') || /(^|\/)\.ferry-input-/.test(rel);
  const { client, budget } = s3Handle(cfg.s3, cfg.transfer, ctx.env);
  try {
    const fetched = await fetchInputs(client, cfg.inputs, cfg.workdir, log, {
      transfer: cfg.transfer,
      endpoint: cfg.s3.endpoint,
      signal: ctx.stop,
    });
    const before = await scanTree(cfg.workdir, isTemp);

    let launch = buildLaunch(cfg.mpi, cfg.solver, 'unknown', { isRoot: false, env: ctx.env });
    if (cfg.mpi.enabled) {
      checkCommand(cfg.mpi.mpirun, 'MPI launcher', cfg.workdir, ctx.env, 'install Open MPI or MPICH, pass --mpirun PATH, or --no-mpi to run the solver directly');
      const flavor = await mpiFlavor(cfg.mpi.mpirun, ctx.env);
      launch = buildLaunch(cfg.mpi, cfg.solver, flavor, { isRoot: process.getuid?.() === 0, env: ctx.env });
    }
    checkCommand(cfg.solver[0], 'solver', cfg.workdir, ctx.env, 'check the command after --: it must be on PATH or a path inside the run directory');
    for (const n of launch.notes) log.info(n);
    log.info(`launching: ${[launch.file, ...launch.args].join(' ')} (${fetched.files.length} input files in place)`);
    const skipOut = (rel: string) => skip.has(rel) || isTemp(rel);
    const uploader = new Uploader({ client, budget, dir: cfg.workdir, prefix: cfg.output, transfer: cfg.transfer, log, signal: ctx.hardStop, endpoint: cfg.s3.endpoint });
    const live = cfg.liveUpload
      ? new LiveUpload(uploader, { dir: cfg.workdir, baseline: before.files, uploadAll: cfg.uploadAll, skip: skipOut, settleMs: cfg.settleSeconds * 1000, log })
      : undefined;
    live?.start();
    const solved = await runSolver(launch, cfg.workdir, ctx.env, log, { signal: ctx.stop, graceMs: GRACE_MS }).finally(() => live?.stop());
    const solverExit = solved.signal ? signalExit(solved.signal) : (solved.exitCode ?? 1);
    log.info(`solver ended after ${(solved.ms / 1000).toFixed(1)} s: ${solved.signal ? `signal ${solved.signal}` : `exit code ${solved.exitCode}`}`);
    if (live && live.done.size > 0) log.info(`${live.done.size} file(s) were uploaded while the solver ran (${formatBytes(uploader.bytes)})`);

    const after = await scanTree(cfg.workdir, skipOut);
    for (const l of after.symlinks) log.warn(`not uploading symbolic link ${l} (links are never followed)`);
    const outputs = selectOutputs(before.files, after.files, cfg.uploadAll);
    const current = outputs.filter((f) => live?.isCurrent(f.rel, after.files.get(f.rel)));
    const todo = outputs.filter((f) => !current.includes(f)).map((f) => f.rel);
    log.info(`uploading ${todo.length} output file(s) to ${formatUri(cfg.output)}${current.length ? ` (${current.length} more already uploaded and unchanged)` : ''}`);
    const final = await uploadTree(uploader, todo, log, cfg.output);
    for (const [rel] of live?.done ?? []) {
      if (after.files.has(rel)) continue;
      log.info(`removing ${formatUri(cfg.output)}${rel}: uploaded while the solver ran, deleted by it since`);
      await uploader.remove(rel).catch((err) => log.warn(`could not remove ${rel} from S3: ${(err as Error).message}`));
    }
    const outcomes: UploadOutcome[] = [...current.map((f) => live!.done.get(f.rel)!), ...final.outcomes];
    const up = { failed: outcomes.filter((o) => !o.verified) };
    if (up.failed.length > 0) {
      log.error(`${up.failed.length} output file(s) are not verified in S3; nothing was deleted. Re-run the same row to upload them.`);
      return up.failed.find((f) => f.exitCode)?.exitCode ?? EXIT.cantCreate;
    }
    if (ctx.stop.aborted) {
      log.info('stopped by a signal: outputs uploaded, run directory kept');
      return signalExit((ctx.stop.reason as { signal?: string } | undefined)?.signal);
    }
    if (cfg.keep) log.info('--keep: run directory left as is');
    else {
      const n = await wipeRunDir(cfg.workdir, [RUN_LOG]).catch((err) => { throw localIoError(err, 'wipe', cfg.workdir); });
      log.info(`all outputs verified in S3; removed ${n} entries from the run directory (kept ${RUN_LOG})`);
    }
    return solverExit;
  } catch (err) {
    if (err instanceof FerryError || ctx.stop.aborted) throw err;
    throw localIoError(err, 'solve', cfg.workdir);
  } finally {
    client.destroy();
  }
}
