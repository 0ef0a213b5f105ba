import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatUri, under } from '../location.ts';
import { RESERVED_OUTPUT } from '../names.ts';
import type { PhaseProgress } from '../progress.ts';
import { finalSweep } from '../phases/final-sweep.ts';
import type { Run, RunPhase } from './context.ts';
import { notOutput } from './launch.ts';

/**
 * Once the solver and everything it started have ended: every output goes up (what live upload
 * sent and is unchanged is kept), then again whatever still changes, a few rounds at most. Files the
 * solver deleted after their live upload are removed from the store if nobody replaced them.
 */
export const sweep: RunPhase = {
  name: 'sweep',
  reads: ['baseline', 'named', 'own', 'uploader', 'live', 'solved'],
  adds: ['sweep'],
  async run(r) {
    const { cfg, ctx } = r;
    const uploader = r.need('uploader');
    let progress: PhaseProgress | undefined;
    const result = await finalSweep({
      dir: cfg.workdir,
      baseline: r.need('baseline'),
      uploadAll: cfg.uploadAll,
      skip: notOutput(r),
      uploader,
      live: r.live,
      log: r.log,
      onPlan: (files, bytes) => (progress = ctx.progress.start('upload', { files, bytes })),
    });
    if (progress) ctx.progress.end(progress);
    for (const l of result.last.symlinks) r.log.warn(`not uploading symbolic link ${l} (links are never followed)`);
    // (the scans skip these names, so the run directory itself is asked)
    for (const n of RESERVED_OUTPUT)
      if (existsSync(join(cfg.workdir, n)))
        r.log.warn(`not uploading ./${n}: the name is reserved for ferry's own ${n} in the output prefix`);
    r.sweep = result;
    await removeDeleted(r);
  },
};

async function removeDeleted(r: Run): Promise<void> {
  const up = r.need('uploader');
  for (const { rel, etag } of r.need('sweep').deletedAfterLive) {
    const uri = formatUri(under(up.prefix, rel));
    try {
      if (await up.remove(rel, etag)) r.log.info(`removed ${uri}: uploaded while the solver ran, deleted by it since`);
      else r.log.warn(`not removing ${uri}: it was replaced in the store since this run uploaded it`);
    } catch (err) {
      r.log.warn(`could not remove ${uri}: ${(err as Error).message}`);
    }
  }
}
