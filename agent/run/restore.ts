import type { JournalView } from '../prefix/journal.ts';
import { sameContent, scanTree, type Snapshot } from '../rundir/tree.ts';
import type { RowIdentity } from '../prefix/row.ts';
import type { ObjectInfo } from '../store/store.ts';
import { restoreEarlier } from '../transfer/restore.ts';
import type { Fetched } from './fetch.ts';
import type { Prepared } from './prepare.ts';
import type { Row } from './row.ts';

/**
 * Before the solver starts: what earlier attempts of the row uploaded comes back into the run
 * directory (a fresh node's run dir becomes what the dead node's held, as far as the store holds it).
 * Restored files are not outputs while unchanged: they are in the store already.
 */
export async function restore(
  row: Row,
  p: Prepared,
  id: RowIdentity,
  f: Fetched,
  o: { earlier: JournalView; existing: Map<string, ObjectInfo> },
): Promise<Fetched> {
  const { cfg, ctx } = row;
  const progress = ctx.progress.start('restore');
  const restored = await restoreEarlier(row.output, cfg.output, cfg.workdir, o.earlier, {
    row: id.key,
    existing: o.existing,
    present: f.baseline,
    skip: cfg.resumeSkip,
    checkpointFiles: p.checkpoint && ((rel: string) => p.checkpoint!.files.matches(rel)),
    transfer: cfg.transfer,
    temps: p.own,
    log: row.log,
    signal: ctx.stop,
    meter: progress,
  }).finally(() => ctx.progress.end(progress));
  const out = { ...f, inputs: new Map([...f.inputs, ...restored]), baseline: new Map([...f.baseline, ...restored]) };
  return p.checkpoint ? resumeFrom(row, p, out, o.earlier, restored) : out;
}

/**
 * With a checkpoint profile: the newest checkpoint an earlier attempt of the row journaled — finished
 * and verified, never one that was being written — that is back in the run directory; the solver is
 * told to start from it (CONVERGE: restart_flag 1 in inputs.in; any solver: FERRY_RESUMED_FROM).
 */
async function resumeFrom(row: Row, p: Prepared, f: Fetched, earlier: JournalView, restored: Snapshot) {
  const profile = p.checkpoint!;
  const candidates = [...earlier.entries.values()]
    .filter((e) => e.checkpoint && restored.has(e.path))
    .map((e) => ({ path: e.path, size: e.size, mtimeMs: Date.parse(e.at) }))
    .sort(profile.order);
  if (candidates.length === 0) return f;
  const from = candidates[0].path;
  const r = await profile.resume(row.cfg.workdir, from);
  row.log.info(`resuming from the checkpoint ${from} an earlier attempt of this row saved`);
  for (const c of r.changes) row.log.info(`  for the resume: ${c}`);
  // What ferry changed for the resume (inputs.in) is not an output of the solver's.
  const now = (await scanTree(row.cfg.workdir, p.own.isOwn)).files;
  const baseline = new Map(f.baseline);
  const inputs = new Map(f.inputs);
  for (const [rel, st] of now)
    if (baseline.has(rel) && !sameContent(baseline.get(rel), st)) {
      baseline.set(rel, st);
      if (inputs.has(rel)) inputs.set(rel, st);
    }
  return { ...f, baseline, inputs, solverEnv: r.env, resumedFrom: from };
}
