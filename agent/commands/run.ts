import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from '../args.ts';
import { RUN_FLAGS, runConfig, type RunConfig } from '../config.ts';
import { EXIT, isLocalIoError, localIoError, signalExit } from '../errors.ts';
import { formatBytes, formatRate } from '../log.ts';
import { isOwnFile, RESERVED_OUTPUT, RUN_LOG } from '../names.ts';
import type { PhaseProgress } from '../progress.ts';
import { fetchInputs } from '../phases/fetch-input.ts';
import { finalSweep, type SweepResult } from '../phases/final-sweep.ts';
import { Lease } from '../phases/lease.ts';
import { LiveUpload } from '../phases/live-upload.ts';
import { publishManifest, withdrawSuccess, type Manifest, type RunStatus } from '../phases/manifest.ts';
import { scanTree, type FileState, type Snapshot } from '../phases/outputs.ts';
import { prepareOutput } from '../phases/prepare-output.ts';
import { lockRunDir } from '../phases/run-lock.ts';
import { loadRunState, type RunState } from '../phases/run-state.ts';
import { checkCommand, planLaunch, runSolver, type SolverResult } from '../phases/solve.ts';
import { Uploader, type UploadOutcome } from '../phases/upload.ts';
import { planWipe, wipeAccounted, wipeAll, type WipePlan } from '../phases/wipe.ts';
import { classifyS3Error } from '../s3/errors.ts';
import { formatUri } from '../uri.ts';
import { selfCommand, versionLine } from '../version.ts';
import { s3Handle, type CommandContext, type S3Handle } from './context.ts';
import { dryRun } from './dry-run.ts';

/** A lease not renewed for this long is stale (FERRY_LEASE_TTL_SECONDS overrides it, for tests). */
const LEASE_TTL_MS = 10 * 60 * 1000;

/**
 * The job inputs named on the command line (--aws-config, --vars, ferry itself) that sit at the top
 * of the run directory, as the platform stages job inputs: never uploaded, deleted by the wipe.
 * One elsewhere (a subfolder, ~/.aws) is never touched.
 */
function namedInputs(cfg: RunConfig, env: NodeJS.ProcessEnv, cwd: string): Set<string> {
  const out = new Set<string>();
  const dir = realpathSync(cfg.workdir);
  // ferry as the job calls it (bin/ferry says how it was invoked; a link to it is ferry too)
  const invoked = env.FERRY_INVOKED ? resolve(cwd, env.FERRY_INVOKED) : undefined;
  for (const f of [cfg.s3.awsConfigFile, cfg.varsFile, selfCommand(env), invoked]) {
    if (!f) continue;
    let real = f;
    try {
      real = join(realpathSync(dirname(f)), basename(f)); // the name itself, not what a link points at
    } catch {
      // gone already
    }
    const rel = relative(dir, real);
    if (rel && !rel.startsWith('..') && !rel.includes(sep)) out.add(rel);
  }
  return out;
}

/** One line: bytes, files and rates per phase, solver time, wall time. */
function summary(phases: PhaseProgress[], solverMs: number, wallMs: number): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const parts = phases.filter((p) => p.files > 0 || p.bytes > 0).map((p) => `${p.phase} ${p.files} file(s) ${formatBytes(p.bytes)} in ${s(p.ms)} (${formatRate(p.bytes, p.ms)})`);
  return `summary: ${[...parts, `solver ${s(solverMs)}`, `wall ${s(wallMs)}`].join('; ')}`;
}

export async function runCommand(ctx: CommandContext): Promise<number> {
  const startedAt = new Date();
  const cfg = runConfig(parseArgs(ctx.argv, RUN_FLAGS, true), ctx.env, ctx.cwd);
  if (cfg.dryRun) return dryRun(cfg, ctx, [...namedInputs(cfg, ctx.env, ctx.cwd), RUN_LOG, ...RESERVED_OUTPUT]);
  const lock = lockRunDir(cfg.workdir); // a second ferry here exits 75 before writing anything
  try {
    try {
      ctx.log.attachFile(join(cfg.workdir, RUN_LOG));
    } catch (err) {
      throw localIoError(err, 'config', join(cfg.workdir, RUN_LOG));
    }
    const h = s3Handle(cfg.s3, cfg.transfer, ctx.env, ctx.log);
    try {
      return await runRow(cfg, ctx, h, startedAt);
    } catch (err) {
      throw isLocalIoError(err) && !ctx.stop.aborted ? localIoError(err, 'solve', cfg.workdir) : err;
    } finally {
      h.client.destroy();
    }
  } finally {
    lock.release();
  }
}

async function runRow(cfg: RunConfig, ctx: CommandContext, h: S3Handle, startedAt: Date): Promise<number> {
  const { log } = ctx;
  const { client, budget, via } = h;
  log.info(versionLine());
  log.info(`run dir ${cfg.workdir}; input ${cfg.inputs.map(formatUri).join(', ')}; output ${formatUri(cfg.output)}`);
  const named = namedInputs(cfg, ctx.env, ctx.cwd);
  const notOutput = (rel: string) => isOwnFile(rel) || named.has(rel) || RESERVED_OUTPUT.has(rel);
  const state = await loadRunState(cfg.workdir, await scanTree(cfg.workdir, isOwnFile));
  if (state.rerun) log.info('this run directory holds an earlier attempt of this row: its outputs count as outputs');
  const launch = await planLaunch(cfg.mpi, cfg.solver, cfg.workdir, ctx.env);
  const ttlMs = Number(ctx.env.FERRY_LEASE_TTL_SECONDS) * 1000 || LEASE_TTL_MS;
  const lease = await Lease.acquire(client, cfg.output, { runId: state.runId, ferry: versionLine(), takeOver: cfg.takeOver, ttlMs, log, endpoint: via, signal: ctx.stop });
  try {
    const fetched = await fetchInputs(client, cfg.inputs, cfg.workdir, log, {
      transfer: cfg.transfer, attempts: cfg.s3.maxAttempts, maxExtract: cfg.maxExtract, endpoint: via, signal: ctx.stop, progress: ctx.progress, reserved: isOwnFile,
    });
    // Not outputs: files that were here before ferry first ran, and the inputs as just extracted.
    const afterFetch = await scanTree(cfg.workdir, isOwnFile);
    const inputs: Snapshot = new Map(fetched.files.flatMap((rel) => (afterFetch.files.has(rel) ? [[rel, afterFetch.files.get(rel)!]] : [])));
    const baseline = new Map([...state.files, ...inputs]);
    checkCommand(cfg.solver[0], 'solver', cfg.workdir, ctx.env, 'check the command after --: it must be on PATH or a path inside the run directory');
    const existing = await prepareOutput(client, cfg.output, log, { signal: ctx.stop, endpoint: via });

    const uploader = new Uploader({ client, budget, dir: cfg.workdir, prefix: cfg.output, transfer: cfg.transfer, log, signal: ctx.hardStop, endpoint: via, existing, objectParams: cfg.s3.objectParams });
    const live = cfg.liveUpload
      ? new LiveUpload(uploader, { dir: cfg.workdir, baseline, uploadAll: cfg.uploadAll, skip: notOutput, settleMs: cfg.settleSeconds * 1000, log })
      : undefined;
    for (const n of launch.notes) log.info(n);
    log.info(`launching: ${[launch.file, ...launch.args].join(' ')} (${fetched.files.length} input files in place)`);
    if (live) uploader.phase = ctx.progress.start('live upload');
    live?.start();
    const solved = await runSolver(launch, cfg.workdir, ctx.env, log, {
      signal: ctx.stop, hardStop: ctx.hardStop, graceMs: cfg.graceSeconds * 1000, mark: randomUUID(), keepCredentials: cfg.solverEnvCredentials,
    }).finally(() => live?.stopWatching());
    if (solved.startError) log.error(`solve: ${solved.startError}\n  hint: check the solver's #! line and its permissions; run it by hand in the run directory to see`);
    else log.info(`solver ended after ${(solved.ms / 1000).toFixed(1)} s: ${solved.signal ? `signal ${solved.signal}` : `exit code ${solved.exitCode}`}`);
    if (live && live.done.size > 0) log.info(`${live.done.size} file(s) were uploaded while the solver ran (${formatBytes(uploader.bytes)})`);
    if (uploader.phase) ctx.progress.end(uploader.phase);

    const sweep = await finalSweep({
      dir: cfg.workdir, baseline, uploadAll: cfg.uploadAll, skip: notOutput, uploader, live, log,
      onPlan: (files, bytes) => (uploader.phase = ctx.progress.start('upload', { files, bytes })),
    });
    if (uploader.phase) ctx.progress.end(uploader.phase);
    for (const l of sweep.last.symlinks) log.warn(`not uploading symbolic link ${l} (links are never followed)`);
    for (const r of RESERVED_OUTPUT) if (sweep.last.files.has(r) || afterFetch.files.has(r)) log.warn(`not uploading ./${r}: the name is reserved for ferry's own ${r} in the output prefix`);
    await removeDeleted(live, sweep, uploader, log);
    return await finish({ cfg, ctx, h, startedAt, state, inputs, named, lease, fetched: fetched.inputs, solved, launchArgv: [launch.file, ...launch.args], sweep });
  } finally {
    await lease.release();
  }
}

/** Files the solver deleted after their live upload are removed from S3 too (only if nobody replaced them). */
async function removeDeleted(live: LiveUpload | undefined, sweep: SweepResult, up: Uploader, log: CommandContext['log']): Promise<void> {
  for (const [rel, o] of live?.done ?? []) {
    if (sweep.first.files.has(rel) || !o.verified || !o.etag) continue;
    const uri = `${formatUri(up.prefix)}${rel}`;
    try {
      if (await up.remove(rel, o.etag)) log.info(`removed ${uri}: uploaded while the solver ran, deleted by it since`);
      else log.warn(`not removing ${uri}: it was replaced in S3 since this run uploaded it`);
    } catch (err) {
      log.warn(`could not remove ${uri} from S3: ${(err as Error).message}`);
    }
  }
}

interface Finish {
  cfg: RunConfig;
  ctx: CommandContext;
  h: S3Handle;
  startedAt: Date;
  state: RunState;
  inputs: Snapshot;
  named: Set<string>;
  lease: Lease;
  fetched: Manifest['inputs'];
  solved: SolverResult;
  launchArgv: string[];
  sweep: SweepResult;
}

/** Decides the run's status, writes the manifest (and _SUCCESS), then wipes what is accounted for. */
async function finish(f: Finish): Promise<number> {
  const { cfg, ctx, sweep, solved } = f;
  const { log } = ctx;
  const notUploaded = new Map<string, string>();
  const unsettled = new Set(sweep.unsettled);
  const verified: UploadOutcome[] = [];
  for (const o of sweep.outcomes.values()) {
    if (unsettled.has(o.rel)) notUploaded.set(o.rel, 'it kept changing after the solver ended');
    else if (!o.verified) notUploaded.set(o.rel, o.error ?? 'not verified');
    else verified.push(o);
  }
  for (const rel of unsettled) if (!notUploaded.has(rel)) notUploaded.set(rel, 'it kept changing after the solver ended');
  for (const b of sweep.last.badNames) {
    notUploaded.set(b, 'its name is not valid UTF-8, so no S3 key can name it: rename it');
    log.error(`not uploading ${b}: its name is not valid UTF-8 (S3 keys are UTF-8); it stays in the run directory`);
  }
  const stopped = ctx.stop.aborted;
  const solverExit = solved.startError ? EXIT.cannotExec : solved.signal ? signalExit(solved.signal) : (solved.exitCode ?? 1);
  const status: RunStatus = notUploaded.size > 0 || stopped || f.lease.lost ? 'incomplete' : solverExit === 0 ? 'complete' : 'solver-failed';

  const uploaded = new Map<string, FileState>(verified.flatMap((o) => (o.state ? [[o.rel, o.state]] : [])));
  const plan = planWipe({ scan: await scanTree(cfg.workdir), inputs: f.inputs, uploaded, named: f.named, preFiles: f.state.files, preDirs: f.state.dirs, notUploaded });
  const kept = cfg.wipeAll ? [] : plan.kept;
  const manifest: Manifest = {
    ferry: versionLine(),
    run_id: f.state.runId,
    status,
    started_at: f.startedAt.toISOString(),
    ended_at: new Date().toISOString(),
    inputs: f.fetched,
    solver: { argv: f.launchArgv, exit_code: solved.exitCode ?? null, signal: solved.signal ?? null, ...(solved.startError ? { start_error: solved.startError } : {}) },
    outputs: verified.map((o) => ({ path: o.rel, size: o.size, sha256: o.sha256 ?? '', etag: o.etag ?? '' })).sort((a, b) => (a.path < b.path ? -1 : 1)),
    not_uploaded: [...notUploaded].map(([path, error]) => ({ path, error })),
    kept,
  };
  if (kept.length > 0) {
    log.warn(`${kept.length} file(s) stay in the run directory (not created by the run, or not accounted for): ${kept.slice(0, 5).map((k) => k.path).join(', ')}${kept.length > 5 ? ', …' : ''} (listed in the manifest)`);
    for (const k of kept) log.detail(`kept ${k.path}: ${k.reason}`);
  }
  const written = await writeManifest(f, manifest);
  log.info(summary(ctx.progress.done, solved.ms, Date.now() - f.startedAt.getTime()), { phases: ctx.progress.done.map((p) => p.fields()), solver_ms: solved.ms, status });
  if (!written) return EXIT.cantCreate;
  if (status === 'incomplete') {
    if (stopped) {
      log.info('stopped by a signal: outputs that existed are uploaded; the run directory is kept');
      return signalExit((ctx.stop.reason as { signal?: string } | undefined)?.signal);
    }
    if (f.lease.lost) return EXIT.busy;
    log.error(`${notUploaded.size} file(s) are not verified in S3; nothing was deleted. Re-run the same row to upload them.`);
    return [...sweep.outcomes.values()].find((o) => !o.verified && o.exitCode)?.exitCode ?? EXIT.cantCreate;
  }
  return (await wipe(f, plan, manifest)) ? solverExit : EXIT.cantCreate;
}

/** Writes the manifest (and _SUCCESS for a complete run); false when it could not be written. */
async function writeManifest(f: Finish, manifest: Manifest): Promise<boolean> {
  const { cfg, ctx, h } = f;
  try {
    await publishManifest(h.client, cfg.output, manifest, cfg.s3.objectParams, ctx.hardStop);
    ctx.log.info(`wrote ${formatUri(cfg.output)}_manifest.json (status ${manifest.status})${manifest.status === 'complete' ? ' and _SUCCESS' : ''}`);
    return true;
  } catch (err) {
    const e = classifyS3Error(err, { phase: 'upload', op: 'writing the manifest', target: `${formatUri(cfg.output)}_manifest.json`, endpoint: h.via });
    ctx.log.error(`${e.render()}\n  nothing was deleted; re-run the same row`);
    return false;
  }
}

/**
 * Deletes what is accounted for (--wipe-all: everything but ferry.log). A file that changed between
 * the plan and its unlink stays; the manifest then says so and _SUCCESS is withdrawn.
 */
async function wipe(f: Finish, plan: WipePlan, manifest: Manifest): Promise<boolean> {
  const { cfg, ctx, h } = f;
  const { log } = ctx;
  if (cfg.keep) {
    log.info('--keep: run directory left as is');
    return true;
  }
  const fail = (err: unknown) => {
    throw localIoError(err, 'wipe', cfg.workdir);
  };
  if (cfg.wipeAll) {
    const n = await wipeAll(cfg.workdir).catch(fail);
    log.info(`all outputs verified in S3; --wipe-all removed ${n} entries from the run directory (kept ${RUN_LOG})`);
    return true;
  }
  const r = await wipeAccounted(cfg.workdir, plan).catch(fail);
  log.info(`all outputs verified in S3; removed ${r.removed} file(s) and folder(s) the run accounts for (kept ${RUN_LOG}${manifest.kept.length ? ` and ${manifest.kept.length} more` : ''})`);
  if (r.changed.length === 0) return true;
  log.error(`${r.changed.length} file(s) changed after the final check and were kept: ${r.changed.join(', ')}`);
  const late = { ...manifest, status: 'incomplete' as const, not_uploaded: [...manifest.not_uploaded, ...r.changed.map((path) => ({ path, error: 'changed after its upload, right before the wipe' }))] };
  await withdrawSuccess(h.client, cfg.output, ctx.hardStop).catch(() => {});
  await writeManifest(f, late);
  return false;
}
