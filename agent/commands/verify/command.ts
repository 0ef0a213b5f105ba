import { storeSettings, transferSettings } from '../../config.ts';
import { renderTable } from '../../doe/table.ts';
import { EXIT, usageError } from '../../errors.ts';
import { asPrefix, formatUri, parseUri, under, type Location } from '../../location.ts';
import { formatBytes, printable } from '../../log.ts';
import { verifyPrefix, type Finding, type VerifyResult } from '../../prefix/verify.ts';
import { openStores, type CommandContext } from '../context.ts';
import { parseFor } from '../spec.ts';
import { ANY_STATUS, DEEP, VERIFY } from './spec.ts';
import { plural } from '../../plural.ts';

/** What stdout says of one prefix: one line when whole; else a line per finding, then the verdict. */
function report(prefix: Location, r: VerifyResult, deep: boolean): string {
  const uri = printable(formatUri(prefix));
  const checked = deep ? 'size, ETag and sha256' : 'size and ETag';
  if (r.findings.length === 0)
    return `${uri}: whole: ${r.objects} object(s), ${formatBytes(r.bytes)}, ${checked} as in the manifest\n`;
  const rows = r.findings.map((f: Finding) => [f.kind, formatUri(under(prefix, f.key)), f.detail]);
  const kinds = new Map<string, number>();
  for (const f of r.findings) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
  const counts = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ');
  return `${renderTable(rows)}\n${uri}: NOT whole: ${plural(r.findings.length, 'finding')} (${counts})\n`;
}

/**
 * `ferry verify URI...`: is each output prefix whole, as its manifest says? Exit 0 when every one
 * is, 1 (with the list of what is wrong) when one is not, 65 when a manifest is not ferry's (each
 * prefix checked all the same); ferry's own error codes when it cannot tell.
 */
export async function verifyCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(VERIFY, ctx.argv);
  if (p.positionals.length === 0)
    throw usageError(
      'ferry verify needs the output prefix to check',
      'e.g. ferry verify --aws-config config s3://bucket/output/hsdi/',
    );
  const prefixes = p.positionals.map((t) => asPrefix(parseUri(t, 'URI')));
  const transfer = transferSettings(p);
  const deep = p.get(DEEP);
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), { ...transfer, partsPerFile: 1 });
  let whole = true;
  let corrupt = false;
  try {
    for (const prefix of prefixes) {
      const t0 = Date.now();
      const r = await verifyPrefix(await stores.for(prefix), prefix, {
        deep,
        anyStatus: p.get(ANY_STATUS),
        concurrency: transfer.filesInFlight,
        signal: ctx.stop,
      });
      process.stdout.write(ctx.log.masker.mask(report(prefix, r, deep)));
      if (deep) ctx.log.info(`read ${formatBytes(r.bytes)} in ${((Date.now() - t0) / 1000).toFixed(1)} s (--deep)`);
      whole &&= r.findings.length === 0;
      corrupt ||= r.corrupt === true;
    }
  } finally {
    await stores.close();
  }
  return corrupt ? EXIT.dataErr : whole ? EXIT.ok : EXIT.checkFailed;
}
