import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { storeSettings, transferSettings } from '../../config.ts';
import { MAX_EXTRACT } from '../../config/run-flags.ts';
import { EXIT, localIoError, usageError } from '../../errors.ts';
import { parseUri } from '../../location.ts';
import { fetchInputs } from '../../transfer/fetch.ts';
import { openStores, type CommandContext } from '../context.ts';
import { GET } from './spec.ts';
import { parseFor } from '../spec.ts';

export async function getCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(GET, ctx.argv);
  if (p.positionals.length !== 2)
    throw usageError(
      `ferry get takes URI DIR, got ${p.positionals.length} argument(s)`,
      'e.g. ferry get s3://bucket/input/case.zip ./case',
    );
  const uri = parseUri(p.positionals[0], 'URI');
  const dir = resolve(ctx.cwd, p.positionals[1]);
  await mkdir(dir, { recursive: true }).catch((err) => {
    throw localIoError(err, 'download', dir);
  });
  const transfer = transferSettings(p);
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), transfer);
  try {
    await fetchInputs((loc) => stores.for(loc), [uri], dir, ctx.log, {
      transfer,
      maxExtract: p.get(MAX_EXTRACT),
      signal: ctx.stop,
      progress: ctx.progress,
    });
  } finally {
    await stores.close();
  }
  return EXIT.ok;
}
