import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { storeSettings, transferSettings } from '../../config.ts';
import { EXIT, usageError } from '../../errors.ts';
import type { Args } from '../../flags/parse.ts';
import { asPrefix, formatUri, isPrefix, parseUri, under, withKey, type Location } from '../../location.ts';
import { formatBytes } from '../../log.ts';
import { isZipName, SUCCESS } from '../../names.ts';
import { withdrawSuccess } from '../../prefix/manifest.ts';
import { scanTree, selectOutputs } from '../../rundir/tree.ts';
import { prepareOutput } from '../../prefix/prepare.ts';
import { checkPartFits, Uploader, uploadTree } from '../../transfer/upload.ts';
import { openStores, type CommandContext } from '../context.ts';
import { PUT } from './spec.ts';
import { parseFor } from '../spec.ts';

/** `aws s3 cp` semantics for one file: to `URI` (an object), or under it keeping its name (a prefix). */
async function putFile(ctx: CommandContext, p: Args, file: string, uri: Location): Promise<number> {
  const size = statSync(file).size;
  const dest = isPrefix(uri) ? under(uri, basename(file)) : uri;
  const transfer = transferSettings(p);
  const stores = openStores(ctx, storeSettings(p, ctx.env, ctx.cwd), transfer);
  try {
    const store = await stores.for(dest);
    checkPartFits(store, file, size, transfer.memory);
    const call = { phase: 'upload' as const, signal: ctx.stop };
    // The folder it lands in is changing: a _SUCCESS there is withdrawn, as for a whole tree.
    const folder = withKey(dest, dest.key.slice(0, dest.key.lastIndexOf('/') + 1));
    const marked = await store.head(under(folder, SUCCESS), call).then(
      () => true,
      () => false, // none there (or not readable: nothing to withdraw that this user could see)
    );
    if (marked) await withdrawSuccess(store, folder, ctx.stop);
    const up = await store.putFile(file, size, dest, { ...call, sha256: false });
    const v = await store.verify(up, call);
    if (!v.ok) {
      ctx.log.error(`verify failed for ${formatUri(dest)}: ${v.reason}`);
      return EXIT.cantCreate;
    }
    ctx.log.info(`uploaded ${file} (${formatBytes(size)}) to ${formatUri(dest)}, verified`);
  } finally {
    await stores.close();
  }
  return EXIT.ok;
}

/**
 * `ferry put DIR URI` (every file under DIR goes to URI + its relative path) or `ferry put FILE URI`
 * (as `aws s3 cp` does: to the object URI, or under a prefix URI keeping its name).
 */
export async function putCommand(ctx: CommandContext): Promise<number> {
  const p = parseFor(PUT, ctx.argv);
  if (p.positionals.length !== 2)
    throw usageError(
      `ferry put takes DIR URI or FILE URI, got ${p.positionals.length} argument(s)`,
      'e.g. ferry put ./results s3://bucket/output/case/',
    );
  const local = resolve(ctx.cwd, p.positionals[0]);
  if (!existsSync(local)) throw usageError(`not found: ${local}`, 'give the folder or file to upload');
  const uri = parseUri(p.positionals[1], 'URI');
  if (statSync(local).isFile()) return putFile(ctx, p, local, uri);
  if (!statSync(local).isDirectory()) throw usageError(`not a file or a directory: ${local}`);
  if (!isPrefix(uri) && isZipName(uri.key))
    throw usageError(
      `${formatUri(uri)} names a zip, and ${local} is a folder: its files would go under ${formatUri(uri)}/`,
      `zip the folder first and put the zip (cd ${local} && zip -r ../${basename(uri.key)} .), ` +
        'or end the URI with / to upload the files under that prefix',
    );
  return putTree(ctx, p, local, asPrefix(uri));
}

async function putTree(ctx: CommandContext, p: Args, dir: string, prefix: Location): Promise<number> {
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
