import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from '../args.ts';
import { GET_FLAGS, maxExtract, storeSettings, transferSettings } from '../config.ts';
import { EXIT, localIoError, usageError } from '../errors.ts';
import { parseUri } from '../location.ts';
import { fetchInputs } from '../phases/fetch-input.ts';
import { openStores, type CommandContext } from './context.ts';

export async function getCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, GET_FLAGS, false);
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
      maxExtract: maxExtract(p),
      signal: ctx.stop,
      progress: ctx.progress,
    });
  } finally {
    await stores.close();
  }
  return EXIT.ok;
}
