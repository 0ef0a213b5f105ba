// How the solver is stopped early, and what is saved first. A stop signal (SIGTERM/SIGINT) or the
// cloud's interruption notice first asks a solver with a checkpoint profile for a checkpoint, waits
// for it (--checkpoint-wait), uploads it and journals it — and only then is the signal passed on to
// the launcher (a notice stops it with SIGTERM). Without a profile the signal goes on at once.
import { checkpointsIn, requestCheckpoint, waitForCheckpoint } from '../checkpoint/checkpoints.ts';
import { watchNotices, type Notice, type NoticeWatch } from '../notices/watch.ts';
import type { Journal } from '../prefix/journal.ts';
import { scanTree } from '../rundir/tree.ts';
import { processAndDescendants } from '../solver/writers.ts';
import type { Uploader } from '../transfer/upload.ts';
import type { Prepared } from './prepare.ts';
import type { Row } from './row.ts';

/** The processes of the run now: everything below ferry (its child subreaper adopts what detaches). */
export const runPids = () => processAndDescendants(process.pid).filter((p) => p !== process.pid);

/** Why the solver is to stop, and by when the machine goes (a notice's time). */
interface Stop {
  why: string;
  deadline?: string;
}

export interface StopGuard {
  /** What the solver is stopped by: the stop signal or a notice, after the checkpoint. */
  signal: AbortSignal;
  /** 'preempted' when an interruption notice stopped the solver. */
  stopped(): string | undefined;
  /** Ends the notice watch and the listeners (the solver has ended). */
  end(): Promise<void>;
}

/**
 * How long to wait for the checkpoint: --checkpoint-wait, and before a notice's deadline (EC2 gives
 * about two minutes, Azure's Spot eviction 30 s) only as long as leaves UPLOAD_MARGIN_MS to upload it.
 */
const UPLOAD_MARGIN_MS = 30_000;
function waitMs(cfgSeconds: number, deadline?: string): number {
  const given = cfgSeconds * 1000;
  if (!deadline) return given;
  return Math.min(given, Math.max(5_000, Date.parse(deadline) - Date.now() - UPLOAD_MARGIN_MS));
}

/** Asks for a checkpoint, waits until it is finished, uploads and journals it; false when none came. */
async function saveCheckpoint(row: Row, p: Prepared, up: Uploader, journal: Journal, stop: Stop): Promise<boolean> {
  const profile = p.checkpoint!;
  const { cfg, ctx, log } = row;
  const { why } = stop;
  const timeoutMs = waitMs(cfg.checkpointWaitSeconds, stop.deadline);
  const waitS = Math.round(timeoutMs / 1000);
  const scan = async () => (await scanTree(cfg.workdir, p.own.isOwn)).files;
  const before = checkpointsIn(await scan(), profile);
  if (!(await requestCheckpoint(cfg.workdir, profile))) return false;
  log.info(
    `${why}: asked the solver for a checkpoint (${profile.trigger}); waiting up to ${waitS} s` +
      (stop.deadline ? ` (the machine goes at ${stop.deadline})` : ''),
  );
  const cp = await waitForCheckpoint({
    runDir: cfg.workdir,
    profile,
    before,
    scan,
    pids: runPids,
    timeoutMs,
    signal: ctx.hardStop,
  }).catch(() => undefined); // a second signal: stop waiting
  if (!cp) {
    log.warn(`${why}: no finished checkpoint within ${waitS} s: the solver is stopped without one`);
    return false;
  }
  const o = await up.upload(cp.path, undefined, undefined, true);
  await journal.flush();
  if (o.verified)
    log.info(`checkpoint ${cp.path} (${cp.size} bytes) uploaded and journaled: a later attempt resumes from it`);
  return o.verified;
}

/** Watches the stop signal and the notices for the solver's run; the returned signal stops the solver. */
export function guardStops(row: Row, p: Prepared, up: Uploader, journal: Journal): StopGuard {
  const { cfg, ctx, log } = row;
  const solverStop = new AbortController();
  let stopped: string | undefined;
  let busy = false;
  const stop = async (s: Stop, reason: unknown) => {
    if (busy || solverStop.signal.aborted) return;
    busy = true;
    if (p.checkpoint) await saveCheckpoint(row, p, up, journal, s).catch((err) => log.warn(`${s.why}: ${String(err)}`));
    solverStop.abort(reason);
  };
  const onStop = () =>
    void stop({ why: `received ${(ctx.stop.reason as { signal?: string })?.signal ?? 'a signal'}` }, ctx.stop.reason);
  if (ctx.stop.aborted) solverStop.abort(ctx.stop.reason);
  else ctx.stop.addEventListener('abort', onStop, { once: true });
  const watchEnd = new AbortController();
  let watch: NoticeWatch | undefined;
  if (cfg.interruptionNotice)
    watch = watchNotices({
      env: ctx.env,
      signal: watchEnd.signal,
      log,
      pollMs: Number(ctx.env.FERRY_NOTICE_POLL_MS) || undefined,
      onNotice: (n: Notice) => {
        stopped = 'preempted';
        log.warn(
          `interruption notice (${n.cloud}: ${n.action}${n.time ? ` at ${n.time}` : ''}): stopping the row here`,
        );
        const reason = { signal: 'SIGTERM', name: 'AbortError', message: 'preempted' };
        void stop({ why: 'the interruption notice', deadline: n.time }, reason);
      },
    });
  return {
    signal: solverStop.signal,
    stopped: () => stopped,
    end: async () => {
      ctx.stop.removeEventListener('abort', onStop);
      watchEnd.abort();
      await watch?.stop();
    },
  };
}
