import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Settings, TransferSettings } from '../config.ts';
import type { Log } from '../log.ts';
import type { Progress } from '../progress.ts';
import { makeS3Client } from '../s3/client.ts';
import { ByteBudget } from '../s3/budget.ts';

/** What every command gets from the entry point. */
export interface CommandContext {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  log: Log;
  progress: Progress;
  /** Aborted on the first SIGINT/SIGTERM: stop the solver and downloads, still upload. */
  stop: AbortSignal;
  /** Aborted on the second signal: stop transfers too. */
  hardStop: AbortSignal;
}

export interface S3Handle {
  client: S3Client;
  /** Where requests go, for messages: the endpoint, and the proxy (password hidden) if one is used. */
  via: string;
  /** Shared by every transfer of the command: at most `transfer.memory` bytes in buffers. */
  budget: ByteBudget;
}

/** One client sized for every request the transfer settings can have in flight. */
export function s3Handle(s: S3Settings, t: TransferSettings, env: NodeJS.ProcessEnv): S3Handle {
  const made = makeS3Client(s, t.filesInFlight * t.partsPerFile * 2 + 4, env);
  const { client, proxy } = made;
  const endpoint = made.endpoint ?? 'the S3 endpoint';
  return { client, budget: new ByteBudget(t.memory, t.partSize), via: proxy ? `${endpoint} through proxy ${proxy}` : endpoint };
}
