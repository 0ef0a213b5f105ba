import { formatBytes } from '../log.ts';
import { isZipName } from '../names.ts';
import { fetchInputs, planInputs } from '../phases/fetch-input.ts';
import { centralDirectoryOf } from '../phases/fetch-zip.ts';
import { scanTree, type Snapshot } from '../phases/outputs.ts';
import { formatUri, isPrefix } from '../location.ts';
import type { RunPhase } from './context.ts';

/** Downloads and extracts the inputs; what is in the run dir then is not an output while unchanged. */
export const fetch: RunPhase = {
  name: 'fetch',
  reads: ['state', 'own'],
  adds: ['fetched', 'inputs', 'baseline'],
  async run(r) {
    const { cfg, ctx } = r;
    const own = r.need('own');
    r.fetched = await fetchInputs((loc) => r.stores.for(loc), cfg.inputs, cfg.workdir, r.log, {
      transfer: cfg.transfer,
      maxExtract: cfg.maxExtract,
      signal: ctx.stop,
      progress: ctx.progress,
      reserved: own.isOwn,
      before: r.need('state').files,
      temps: own,
    });
    const after = await scanTree(cfg.workdir, own.isOwn);
    const inputs: Snapshot = new Map();
    for (const rel of r.fetched.files) if (after.files.has(rel)) inputs.set(rel, after.files.get(rel)!);
    r.inputs = inputs;
    r.baseline = new Map([...r.need('state').files, ...inputs]);
  },
  async dry(r) {
    r.report.push('', 'download:');
    for (const u of r.cfg.inputs) {
      const store = await r.stores.for(u);
      if (isPrefix(u)) {
        const objs = await store.list(u, { phase: 'download', signal: r.ctx.stop });
        r.report.push(
          `  ${formatUri(u)}: ${objs.length} object(s), ${formatBytes(objs.reduce((n, o) => n + o.size, 0))} ` +
            '(zips among them extracted where they land)',
        );
        continue;
      }
      const [job] = await planInputs(async () => store, [u], r.ctx.stop);
      if (!isZipName(u.key)) {
        r.report.push(`  ${formatUri(u)}: ${formatBytes(job.obj.size)}, saved as ${job.rel}`);
        continue;
      }
      const cd = await centralDirectoryOf(store, u, job.obj, r.ctx.stop);
      r.report.push(
        `  ${formatUri(u)}: ${formatBytes(job.obj.size)}, extracted here: ${cd.entries.length} entries, ` +
          formatBytes(cd.entries.reduce((n, x) => n + x.size, 0)),
      );
    }
  },
};
