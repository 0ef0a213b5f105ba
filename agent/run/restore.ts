import type { JournalView } from '../prefix/journal.ts';
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
    transfer: cfg.transfer,
    temps: p.own,
    log: row.log,
    signal: ctx.stop,
    meter: progress,
  }).finally(() => ctx.progress.end(progress));
  if (restored.size === 0) return f;
  return { ...f, inputs: new Map([...f.inputs, ...restored]), baseline: new Map([...f.baseline, ...restored]) };
}
