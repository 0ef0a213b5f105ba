import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from '../args.ts';
import { GET_FLAGS, maxExtract, s3Settings, transferSettings } from '../config.ts';
import { EXIT, localIoError, usageError } from '../errors.ts';
import { fetchInputs } from '../phases/fetch-input.ts';
import { parseS3Uri } from '../uri.ts';
import { s3Handle, type CommandContext } from './context.ts';

export async function getCommand(ctx: CommandContext): Promise<number> {
  const p = parseArgs(ctx.argv, GET_FLAGS, false);
  if (p.positionals.length !== 2) throw usageError(`ferry get takes URI DIR, got ${p.positionals.length} argument(s)`, 'e.g. ferry get s3://bucket/input/case.zip ./case');
  const uri = parseS3Uri(p.positionals[0], 'URI');
  const dir = resolve(ctx.cwd, p.positionals[1]);
  await mkdir(dir, { recursive: true }).catch((err) => { throw localIoError(err, 'download', dir); });
  const s3 = s3Settings(p, ctx.env, ctx.cwd);
  const transfer = transferSettings(p);
  const { client, via } = s3Handle(s3, transfer, ctx.env, ctx.log);
  try {
    await fetchInputs(client, [uri], dir, ctx.log, { transfer, attempts: s3.maxAttempts, maxExtract: maxExtract(p), endpoint: via, signal: ctx.stop, progress: ctx.progress });
  } finally {
    client.destroy();
  }
  return EXIT.ok;
}
