// Done is done: an attempt whose output prefix already holds a complete manifest of the same row
// (the same inputs with the same ETags) of the same solver command and reads back whole exits 0 at once,
// without downloading or running anything (`--rerun` runs the row again).
import { formatUri, under } from '../location.ts';
import { LEASE } from '../names.ts';
import { isAbort } from '../errors.ts';
import { leaseLeft } from '../prefix/lease.ts';
import { isStale, leaseTtlMs, viewLease } from '../prefix/lease-view.ts';
import { fetchManifest, UnreadableManifest } from '../prefix/manifest.ts';
import type { RowIdentity } from '../prefix/row.ts';
import { verifyPrefix } from '../prefix/verify.ts';
import type { Row } from './row.ts';

export async function alreadyComplete(row: Row, id: RowIdentity): Promise<boolean> {
  const { cfg, ctx, log, output } = row;
  const call = { phase: 'download' as const, signal: ctx.stop };
  const m = await fetchManifest(output, cfg.output, call).catch((err) => {
    if (err instanceof UnreadableManifest) return undefined;
    throw err;
  });
  if (m?.status !== 'complete' || m.row !== id.key) return false;
  if (JSON.stringify(m.solver.command) !== JSON.stringify(id.solver)) {
    log.info("the output prefix holds this row's complete manifest, but of another solver command: running the row");
    return false;
  }
  const v = await verifyPrefix(output, cfg.output, {
    deep: false,
    anyStatus: false,
    ownLease: true,
    concurrency: 4,
    signal: ctx.stop,
  });
  if (v.findings.length > 0) return false;
  log.info(
    `the output prefix already holds this row's complete manifest (attempt ${m.attempt ?? m.run_id}, ` +
      `ended ${m.ended_at}) and reads back whole: nothing to do (--rerun runs the row again)`,
  );
  await removeDeadLease(row, id);
  return true;
}

/**
 * A lease of this row left by an attempt that died after its `_SUCCESS` (in its wipe) goes, if stale.
 * One that cannot be removed is a warning: the row is complete, and that lease is not this attempt's.
 */
async function removeDeadLease(row: Row, id: RowIdentity): Promise<void> {
  const loc = under(row.cfg.output, LEASE);
  const call = { phase: 'upload' as const, signal: row.ctx.stop, what: 'reading the lease' };
  const got = await row.output.fetch(loc, call);
  if (!got) return;
  const held = viewLease(got);
  const ttl = leaseTtlMs(row.ctx.env);
  if (held.body.row !== id.key || !isStale(held, ttl)) return;
  try {
    if (!(await row.output.remove(loc, { ...call, what: 'removing a dead lease', ifEtag: held.etag }))) return;
  } catch (err) {
    if (isAbort(err)) throw err;
    return row.log.warn(leaseLeft(formatUri(loc), err, ttl));
  }
  row.log.info(`removed ${formatUri(loc)}, left by attempt ${held.body.attempt}, which ended without removing it`);
}
