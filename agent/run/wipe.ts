import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { localIoError } from '../errors.ts';
import { FIXED_OWN, RUN_LOG } from '../names.ts';
import { withdrawSuccess } from '../phases/manifest.ts';
import { wipeAccounted, wipeAll } from '../phases/wipe.ts';
import type { Run, RunPhase } from './context.ts';
import { writeManifest } from './manifest.ts';

/** What a run stopped by a signal did, in one line: never more than it did. */
function stoppedLine(r: Run): string {
  const verified = r.manifest?.outputs.length ?? 0;
  const missing = r.verdict?.notUploaded.size ?? 0;
  return (
    `stopped by a signal: ${verified} output(s) uploaded and verified` +
    (missing ? `, ${missing} not` : '') +
    (r.manifestWritten ? '' : ', no manifest written') +
    '; nothing was deleted'
  );
}

/**
 * Only a run whose every output is verified and whose manifest is written deletes anything: what it
 * accounts for (--wipe-all: everything but ferry.log). A file that changed between the plan and its
 * unlink stays; the manifest then says so and _SUCCESS is withdrawn.
 */
export const wipe: RunPhase = {
  name: 'wipe',
  reads: ['verdict', 'plan', 'manifest', 'manifestWritten', 'named'],
  adds: ['changedAtWipe'],
  async run(r) {
    const { cfg, ctx } = r;
    const verdict = r.need('verdict');
    if (!r.manifestWritten || verdict.status === 'incomplete') {
      if (ctx.stop.aborted) r.log.info(stoppedLine(r));
      else if (verdict.notUploaded.size > 0)
        r.log.error(
          `${verdict.notUploaded.size} file(s) are not verified in the store; nothing was deleted. ` +
            'Re-run the same row to upload them.',
        );
      return;
    }
    if (cfg.keep) return void r.log.info('--keep: run directory left as is');
    const fail = (err: unknown) => {
      throw localIoError(err, 'wipe', cfg.workdir);
    };
    if (cfg.wipeAll) {
      const n = await wipeAll(cfg.workdir).catch(fail);
      return void r.log.info(
        `all outputs verified; --wipe-all removed ${n} entries from the run directory (kept ${RUN_LOG})`,
      );
    }
    const manifest = r.need('manifest');
    const res = await wipeAccounted(cfg.workdir, r.need('plan')).catch(fail);
    const more = manifest.kept.length ? ` and ${manifest.kept.length} more` : '';
    r.log.info(
      `all outputs verified; removed ${res.removed} file(s) and folder(s) the run accounts for ` +
        `(kept ${RUN_LOG}${more})`,
    );
    const named = r.need('named').top;
    for (const [rel, what] of named)
      if (r.need('plan').remove.has(rel) && !existsSync(join(cfg.workdir, rel)))
        r.log.info(`deleted ./${rel} (${what}): a job input at the top of the run directory, not left to be archived`);
    r.changedAtWipe = res.changed;
    if (res.changed.length === 0) return;
    r.log.error(`${res.changed.length} file(s) changed after the final check and were kept: ${res.changed.join(', ')}`);
    const late = res.changed.map((path) => ({ path, error: 'changed after its upload, right before the wipe' }));
    await withdrawSuccess(await r.output(), cfg.output, ctx.hardStop).catch(() => {});
    await writeManifest(r, { ...manifest, status: 'incomplete', not_uploaded: [...manifest.not_uploaded, ...late] });
  },
  async dry(r) {
    const { cfg } = r;
    r.report.push('', 'delete:');
    const named = r.need('named').top;
    const entries = readdirSync(cfg.workdir).filter((n) => !FIXED_OWN.has(n));
    const mine = entries.filter((n) => named.has(n));
    const others = entries.filter((n) => !named.has(n));
    if (cfg.keep) r.report.push('  nothing (--keep)');
    else if (cfg.wipeAll)
      r.report.push(`  once every upload is verified: everything in ${cfg.workdir} except ${RUN_LOG} (--wipe-all)`);
    else {
      r.report.push(
        '  once every upload is verified: the inputs as extracted, the outputs as uploaded' +
          (mine.length ? `, ${mine.join(', ')}` : ''),
      );
      r.report.push(`  kept: ${RUN_LOG}${others.length ? `, and what was here before (${others.join(', ')})` : ''}`);
    }
  },
};
