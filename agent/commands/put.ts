import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from '../args.ts';
import { S3_FLAGS, storeSettings, transferSettings } from '../config.ts';
import { EXIT, usageError } from '../errors.ts';
import { asPrefix, parseUri } from '../location.ts';
import { scanTree, selectOutputs } from '../phases/outputs.ts';
import { prepareOutput } from '../phases/prepare-output.ts';
import { checkPartFits, Uploader, uploadTree } from '../phases/upload.ts';
import { openStores, type CommandContext } from './context.ts';

export async function putCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, S3_FLAGS, false);
  if (p.positionals.length !== 2)
    throw usageError(
      `ferry put takes DIR URI, got ${p.positionals.length} argument(s)`,
      'e.g. ferry put ./results s3://bucket/output/case/',
    );
  const dir = resolve(ctx.cwd, p.positionals[0]);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`not a directory: ${dir}`);
  const prefix = asPrefix(parseUri(p.positionals[1], 'URI'));
  const transfer = transferSettings(p);
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), transfer);
  const scan = await scanTree(dir);
  for (const l of scan.symlinks) ctx.log.warn(`not uploading symbolic link ${l}`);
  for (const b of scan.badNames)
    ctx.log.error(`not uploading ${b}: its name is not valid UTF-8 (keys are UTF-8); rename it`);
  for (const [rel, why] of scan.unreadable ?? []) ctx.log.error(`not uploading ${rel}: ${why}`);
  const files = selectOutputs(new Map(), scan.files, true).map((f) => f.rel);
  try {
    const store = await stores.for(prefix);
    // A file whose single part cannot fit --memory is refused before anything is sent.
    for (const rel of files) checkPartFits(store, join(dir, rel), scan.files.get(rel)!.size, transfer.memory);
    const existing = await prepareOutput(store, prefix, ctx.log, ctx.stop);
    const up = new Uploader({
      store,
      dir,
      prefix,
      filesInFlight: transfer.filesInFlight,
      smallInFlight: transfer.smallInFlight,
      memory: transfer.memory,
      log: ctx.log,
      signal: ctx.stop,
      existing,
      sha256: false,
    });
    const progress = ctx.progress.start('upload', {
      files: files.length,
      bytes: files.reduce((n, rel) => n + (scan.files.get(rel)?.size ?? 0), 0),
    });
    const r = await uploadTree(up, files, ctx.log, { progress });
    ctx.progress.end(progress);
    if (r.failed.length > 0) return r.failed.find((f) => f.exitCode)?.exitCode ?? EXIT.cantCreate;
    if (scan.badNames.length > 0 || (scan.unreadable?.size ?? 0) > 0) return EXIT.cantCreate;
  } finally {
    await stores.close();
  }
  return EXIT.ok;
}
