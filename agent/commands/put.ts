import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from '../args.ts';
import { S3_FLAGS, s3Settings, transferSettings } from '../config.ts';
import { EXIT, usageError } from '../errors.ts';
import { scanTree, selectOutputs } from '../phases/outputs.ts';
import { prepareOutput } from '../phases/prepare-output.ts';
import { Uploader, uploadTree } from '../phases/upload.ts';
import { asPrefix, parseS3Uri } from '../uri.ts';
import { s3Handle, type CommandContext } from './context.ts';

export async function putCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, S3_FLAGS, false);
  if (p.positionals.length !== 2) throw usageError(`ferry put takes DIR URI, got ${p.positionals.length} argument(s)`, 'e.g. ferry put ./results s3://bucket/output/case/');
  const dir = resolve(ctx.cwd, p.positionals[0]);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw usageError(`not a directory: ${dir}`);
  const prefix = asPrefix(parseS3Uri(p.positionals[1], 'URI'));
  const s3 = s3Settings(p, ctx.env, ctx.cwd);
  const transfer = transferSettings(p);
  const scan = await scanTree(dir);
  for (const l of scan.symlinks) ctx.log.warn(`not uploading symbolic link ${l}`);
  const files = selectOutputs(new Map(), scan.files, true).map((f) => f.rel);
  const { client, budget, via } = s3Handle(s3, transfer, ctx.env, ctx.log);
  try {
    const existing = await prepareOutput(client, prefix, ctx.log, { signal: ctx.stop, endpoint: via });
    const up = new Uploader({ client, budget, dir, prefix, transfer, log: ctx.log, signal: ctx.stop, endpoint: via, existing, objectParams: s3.objectParams, sha256: false });
    up.phase = ctx.progress.start('upload', { files: files.length, bytes: files.reduce((n, rel) => n + (scan.files.get(rel)?.size ?? 0), 0) });
    const r = await uploadTree(up, files, ctx.log);
    ctx.progress.end(up.phase);
    if (r.failed.length > 0) return r.failed.find((f) => f.exitCode)?.exitCode ?? EXIT.cantCreate;
  } finally {
    client.destroy();
  }
  return EXIT.ok;
}
