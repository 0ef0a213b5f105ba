import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, localIoError } from '../errors.ts';
import { RUN_LOG } from '../names.ts';
import { withdrawSuccess } from '../prefix/manifest.ts';
import { wipeAccounted, wipeAll } from '../rundir/wipe.ts';
import type { Lease } from '../prefix/lease.ts';
import type { JobInputs } from '../rundir/job-inputs.ts';
import { shellWord } from '../shell.ts';
import { claimPrefix, KEPT_CHANGING, RENAME_IT, type Recorded } from './record.ts';
import type { Row } from './row.ts';

/** What the wipe did: the files that changed between its plan and their unlink (kept). */
export interface Wiped {
  changedAtWipe: string[];
}

/** What a run stopped by a signal did, in one line: never more than it did. */
function stoppedLine(rec: Recorded): string {
  const verified = rec.manifest.outputs.length;
  const missing = rec.verdict.notUploaded.size;
  return (
    `stopped by a signal: ${verified} output(s) uploaded and verified` +
    (missing ? `, ${missing} not` : '') +
    (rec.written ? '' : ', no manifest written') +
    '; the run directory was not wiped'
  );
}

/**
 * Why the run dir was not wiped, and what to do: a re-run uploads what failed, not what something
 * outside writes, nor a file whose name no key can hold (renaming it is the fix).
 */
function notVerifiedLine(notUploaded: Map<string, string>): string {
  const all = [...notUploaded];
  const changing = all.filter(([, why]) => why === KEPT_CHANGING).map(([rel]) => rel);
  const badNames = all.filter(([, why]) => why.endsWith(RENAME_IT)).map(([rel]) => rel);
  const others = notUploaded.size - changing.length - badNames.length;
  const parts = [`${notUploaded.size} file(s) are not verified in the store; the run directory was not wiped.`];
  if (changing.length > 0) {
    const shown = changing.slice(0, 3).map((r) => `--exclude ${shellWord(r)}`);
    parts.push(
      `${changing.length} kept changing after the solver and its processes ended: something outside the ` +
        `run writes them (a console capture, a monitor), so a re-run would not help: leave them out with ` +
        `${shown.join(' ')}${changing.length > 3 ? ' …' : ''} (a glob, as the AWS CLI's).`,
    );
  }
  if (badNames.length > 0)
    parts.push(
      `${badNames.length} have names that are not valid UTF-8 (${badNames.slice(0, 3).join(', ')}` +
        `${badNames.length > 3 ? ', …' : ''}): no key can hold them, so a re-run would not help: have the ` +
        'solver write UTF-8 names (or rename them in the job script after it), then run the row again.',
    );
  if (others > 0)
    parts.push(
      changing.length + badNames.length > 0 ? 'Re-run the row for the others.' : 'Re-run the same row to upload them.',
    );
  return parts.join(' ');
}

/**
 * Only a run whose every output is verified and whose manifest is written deletes anything: what it
 * accounts for (--wipe-all: everything but ferry.log). A file that changed between the plan and its
 * unlink stays; the manifest then says so and _SUCCESS is withdrawn.
 */
export async function wipe(row: Row, rec: Recorded, lease: Lease, job: JobInputs): Promise<Wiped> {
  const { cfg, ctx, log } = row;
  const none: Wiped = { changedAtWipe: [] };
  if (!rec.written || rec.verdict.status === 'incomplete') {
    if (ctx.stop.aborted) log.info(stoppedLine(rec));
    else if (rec.verdict.notUploaded.size > 0) log.error(notVerifiedLine(rec.verdict.notUploaded));
    return none;
  }
  if (cfg.keep) return (log.info('--keep: run directory left as is'), none);
  const fail = (err: unknown) => {
    throw localIoError(err, 'wipe', cfg.workdir);
  };
  if (cfg.wipeAll) {
    const n = await wipeAll(cfg.workdir).catch(fail);
    log.info(`all outputs verified; --wipe-all removed ${n} entries from the run directory (kept ${RUN_LOG})`);
    return none;
  }
  const res = await wipeAccounted(cfg.workdir, rec.plan).catch(fail);
  const more = rec.manifest.kept.length ? ` and ${rec.manifest.kept.length} more` : '';
  log.info(
    `all outputs verified; removed ${res.removed} file(s) and folder(s) the run accounts for (kept ${RUN_LOG}${more})`,
  );
  for (const [rel, what] of job.top)
    if (rec.plan.remove.has(rel) && !existsSync(join(cfg.workdir, rel)))
      log.info(`deleted ./${rel} (${what}): a job input at the top of the run directory, not left to be archived`);
  if (res.changed.length === 0) return none;
  log.error(`${res.changed.length} file(s) changed after the final check and were kept: ${res.changed.join(', ')}`);
  const late = res.changed.map((path) => ({ path, error: 'changed after its upload, right before the wipe' }));
  await withdrawSuccess(row.output, cfg.output, ctx.hardStop).catch(() => {});
  const m = rec.manifest;
  await claimPrefix(row, { ...m, status: 'incomplete', not_uploaded: [...m.not_uploaded, ...late] }, lease);
  return { changedAtWipe: res.changed };
}

/** The job inputs that hold secrets: removed when the run ends, whatever its status. */
const SECRET_INPUTS = new Set(['--aws-config', '--azure-config', '--proxy-auth-file']);

/**
 * Once a run that held the run directory ends, whatever its status, the credential files it was given
 * at the top of the run directory go (--keep keeps them): a complete run's wipe deletes them anyway, so
 * the job keeps its copy elsewhere, and a run directory is archived (the platform uploads it once the
 * command ends) or reused. Never a file in a subfolder or outside the run directory (job.top).
 */
export async function removeSecretInputs(row: Row, job: JobInputs | undefined): Promise<void> {
  if (!job || row.cfg.keep) return;
  for (const [rel, what] of job.top) {
    if (!SECRET_INPUTS.has(what)) continue;
    const path = join(row.cfg.workdir, rel);
    if (!existsSync(path)) continue;
    try {
      await rm(path, { force: true });
      row.log.info(
        `deleted ./${rel} (${what}): it holds a secret, and a run directory is archived or reused; ` +
          'keep your copy elsewhere (--keep keeps it)',
      );
    } catch (err) {
      row.log.error(`could not delete ./${rel} (${what}), which holds a secret: ${describeError(err)}`);
    }
  }
}
