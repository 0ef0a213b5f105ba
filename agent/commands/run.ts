import { existsSync, realpathSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { parseArgs } from '../args.ts';
import { RUN_FLAGS, runConfig, type RunConfig } from '../config.ts';
import { EXIT, isLocalIoError, localIoError, signalExit } from '../errors.ts';
import { formatBytes, formatRate } from '../log.ts';
import type { PhaseProgress } from '../progress.ts';
import { buildLaunch } from '../mpi/launch.ts';
import { fetchInputs } from '../phases/fetch-input.ts';
import { LiveUpload } from '../phases/live-upload.ts';
import { publishManifest, RESERVED, type Manifest, type RunStatus } from '../phases/manifest.ts';
import { scanTree, selectOutputs } from '../phases/outputs.ts';
import { prepareOutput } from '../phases/prepare-output.ts';
import { preExistingFiles, STATE_FILE } from '../phases/run-state.ts';
import { checkCommand, mpiFlavor, runSolver } from '../phases/solve.ts';
import { Uploader, uploadTree, type UploadOutcome } from '../phases/upload.ts';
import { wipeRunDir } from '../phases/wipe.ts';
import { formatUri } from '../uri.ts';
import { selfCommand, versionLine } from '../version.ts';
import { s3Handle, type CommandContext } from './context.ts';
import { dryRun } from './dry-run.ts';

export const RUN_LOG = 'ferry.log';

/** Files in the run dir that are never uploaded: the run log, the credentials, ferry itself. */
function neverUpload(cfg: RunConfig, env: NodeJS.ProcessEnv): Set<string> {
  const out = new Set([RUN_LOG, ...RESERVED]);
  const self = selfCommand(env);
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

/** One line: bytes, files and rates per phase, solver time, wall time. */
function summary(phases: PhaseProgress[], solverMs: number, wallMs: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const parts = phases.filter((p) => p.files > 0 || p.bytes > 0).map((p) => `${p.phase} ${p.files} file(s) ${formatBytes(p.bytes)} in ${s(p.ms)} (${formatRate(p.bytes, p.ms)})`);
  return `summary: ${[...parts, `solver ${s(solverMs)}`, `wall ${s(wallMs)}`].join('; ')}`;
}

const isTemp = (rel: string) => rel === STATE_FILE || rel.includes('.ferry-part') || /(^|\/)\.ferry-input-/.test(rel);

export async function runCommand(ctx: CommandContext): Promise<number> {
  const startedAt = new Date();
  const cfg = runConfig(parseArgs(ctx.argv, RUN_FLAGS, true), ctx.env, ctx.cwd);
  const { log } = ctx;
  if (cfg.dryRun) return dryRun(cfg, ctx, [...neverUpload(cfg, ctx.env)]);
  try {
    log.attachFile(join(cfg.workdir, RUN_LOG));
  } catch (err) {
    throw localIoError(err, 'config', join(cfg.workdir, RUN_LOG));
  }
  log.info(versionLine());
  log.info(`run dir ${cfg.workdir}; input ${cfg.inputs.map(formatUri).join(', ')}; output ${formatUri(cfg.output)}`);

  const skip = neverUpload(cfg, ctx.env);
  const skipOut = (rel: string) => skip.has(rel) || isTemp(rel);
  const { client, budget, via } = s3Handle(cfg.s3, cfg.transfer, ctx.env);
  try {
    const pre = await preExistingFiles(cfg.workdir, (await scanTree(cfg.workdir, isTemp)).files);
    if (pre.rerun) log.info('this run directory holds an earlier attempt of this row: its outputs count as outputs');
    const fetched = await fetchInputs(client, cfg.inputs, cfg.workdir, log, { transfer: cfg.transfer, maxExtract: cfg.maxExtract, endpoint: via, signal: ctx.stop, progress: ctx.progress });
    // Not outputs: files that were here before ferry first ran, and the inputs as just extracted.
    const now = await scanTree(cfg.workdir, isTemp);
    const baseline = new Map(pre.files);
    for (const rel of fetched.files) {
      const st = now.files.get(rel);
      if (st) baseline.set(rel, st);
    }

    let launch = buildLaunch(cfg.mpi, cfg.solver, 'unknown', { isRoot: false, env: ctx.env });
    if (cfg.mpi.enabled) {
      checkCommand(cfg.mpi.mpirun, 'MPI launcher', cfg.workdir, ctx.env, 'install Open MPI or MPICH, pass --mpirun PATH, or --no-mpi to run the solver directly');
      launch = buildLaunch(cfg.mpi, cfg.solver, await mpiFlavor(cfg.mpi.mpirun, ctx.env), { isRoot: process.getuid?.() === 0, env: ctx.env });
    }
    checkCommand(cfg.solver[0], 'solver', cfg.workdir, ctx.env, 'check the command after --: it must be on PATH or a path inside the run directory');
    const existing = await prepareOutput(client, cfg.output, log, { signal: ctx.stop, endpoint: via });

    const uploader = new Uploader({ client, budget, dir: cfg.workdir, prefix: cfg.output, transfer: cfg.transfer, log, signal: ctx.hardStop, endpoint: via, existing, objectParams: cfg.s3.objectParams });
    const live = cfg.liveUpload
      ? new LiveUpload(uploader, { dir: cfg.workdir, baseline, uploadAll: cfg.uploadAll, skip: skipOut, settleMs: cfg.settleSeconds * 1000, log })
      : undefined;
    for (const n of launch.notes) log.info(n);
    log.info(`launching: ${[launch.file, ...launch.args].join(' ')} (${fetched.files.length} input files in place)`);
    if (live) uploader.phase = ctx.progress.start('live upload');
    live?.start();
    const solved = await runSolver(launch, cfg.workdir, ctx.env, log, { signal: ctx.stop, hardStop: ctx.hardStop, graceMs: cfg.graceSeconds * 1000 }).finally(() => live?.stopWatching());
    const solverExit = solved.signal ? signalExit(solved.signal) : (solved.exitCode ?? 1);
    log.info(`solver ended after ${(solved.ms / 1000).toFixed(1)} s: ${solved.signal ? `signal ${solved.signal}` : `exit code ${solved.exitCode}`}`);
    if (live && live.done.size > 0) log.info(`${live.done.size} file(s) were uploaded while the solver ran (${formatBytes(uploader.bytes)})`);
    if (uploader.phase) ctx.progress.end(uploader.phase);

    const after = await scanTree(cfg.workdir, skipOut);
    for (const l of after.symlinks) log.warn(`not uploading symbolic link ${l} (links are never followed)`);
    for (const r of RESERVED) if (existsSync(join(cfg.workdir, r))) log.warn(`not uploading ./${r}: the name is reserved for ferry's own ${r} in the output prefix`);
    const outputs = selectOutputs(baseline, after.files, cfg.uploadAll);
    const current = outputs.filter((f) => live?.isCurrent(f.rel, after.files.get(f.rel)));
    const todo = outputs.filter((f) => !current.includes(f)).map((f) => f.rel);
    log.info(`uploading ${todo.length} output file(s) to ${formatUri(cfg.output)}${current.length ? ` (${current.length} more already uploaded and unchanged)` : ''}`);
    uploader.phase = ctx.progress.start('upload', { files: todo.length, bytes: todo.reduce((n, rel) => n + (after.files.get(rel)?.size ?? 0), 0) });
    // Live uploads still under way finish alongside; a file that changed since is sent again.
    const final = await uploadTree(uploader, todo, log, cfg.output, live ? (rel) => live.reuse(rel, after.files.get(rel)) : undefined);
    await live?.drain();
    ctx.progress.end(uploader.phase);
    for (const [rel] of live?.done ?? []) {
      if (after.files.has(rel)) continue;
      log.info(`removing ${formatUri(cfg.output)}${rel}: uploaded while the solver ran, deleted by it since`);
      await uploader.remove(rel).catch((err) => log.warn(`could not remove ${rel} from S3: ${(err as Error).message}`));
    }
    const outcomes: UploadOutcome[] = [...current.map((f) => live!.done.get(f.rel)!), ...final.outcomes];
    const failed = outcomes.filter((o) => !o.verified);
    const stopped = ctx.stop.aborted;
    const status: RunStatus = failed.length > 0 || stopped ? 'incomplete' : solverExit === 0 ? 'complete' : 'solver-failed';
    const manifest: Manifest = {
      ferry: versionLine(),
      status,
      started_at: startedAt.toISOString(),
      ended_at: new Date().toISOString(),
      inputs: fetched.inputs,
      solver: { argv: [launch.file, ...launch.args], exit_code: solved.exitCode ?? null, signal: solved.signal ?? null },
      outputs: outcomes.filter((o) => o.verified).map((o) => ({ path: o.rel, size: o.size, sha256: o.sha256 ?? '', etag: o.etag ?? '' })).sort((a, b) => (a.path < b.path ? -1 : 1)),
      not_uploaded: failed.map((o) => ({ path: o.rel, error: o.error ?? 'unknown' })),
    };
    try {
      await publishManifest(client, cfg.output, manifest, cfg.s3.objectParams, ctx.hardStop);
      log.info(`wrote ${formatUri(cfg.output)}_manifest.json (status ${status})${status === 'complete' ? ' and _SUCCESS' : ''}`);
    } catch (err) {
      log.error(`could not write the manifest: ${(err as Error).message}`);
      if (failed.length === 0) failed.push({ rel: '_manifest.json', size: 0, key: '', verified: false, exitCode: EXIT.cantCreate });
    }
    log.info(summary(ctx.progress.done, solved.ms, Date.now() - startedAt.getTime()), { phases: ctx.progress.done.map((p) => p.fields()), solver_ms: solved.ms, status });
    if (failed.length > 0) {
      log.error(`${failed.length} output file(s) are not verified in S3; nothing was deleted. Re-run the same row to upload them.`);
      return stopped ? signalExit((ctx.stop.reason as { signal?: string }).signal) : (failed.find((f) => f.exitCode)?.exitCode ?? EXIT.cantCreate);
    }
    if (stopped) {
      log.info('stopped by a signal: outputs that existed are uploaded; the run directory is kept');
      return signalExit((ctx.stop.reason as { signal?: string } | undefined)?.signal);
    }
    if (cfg.keep) log.info('--keep: run directory left as is');
    else {
      const n = await wipeRunDir(cfg.workdir, [RUN_LOG]).catch((err) => {
        throw localIoError(err, 'wipe', cfg.workdir);
      });
      log.info(`all outputs verified in S3; removed ${n} entries from the run directory (kept ${RUN_LOG})`);
    }
    return solverExit;
  } catch (err) {
    throw isLocalIoError(err) && !ctx.stop.aborted ? localIoError(err, 'solve', cfg.workdir) : err;
  } finally {
    client.destroy();
  }
}
