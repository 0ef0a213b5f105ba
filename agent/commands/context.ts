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

/** Proxy passwords in the environment (any scheme): secrets even when S3 does not use that proxy. */
function proxyPasswords(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (!v || !/^(https?|all)_proxy$/i.test(k)) continue;
    try {
      const u = new URL(v);
      if (u.password) out.push(decodeURIComponent(u.password));
    } catch {
      // not a URL: nothing to mask
    }
  }
  return out;
}

/**
 * One client sized for every request the transfer settings can have in flight. Every secret it
 * was given is handed to the log's masker.
 */
export function s3Handle(s: S3Settings, t: TransferSettings, env: NodeJS.ProcessEnv, log?: Log): S3Handle {
  const made = makeS3Client(s, t.filesInFlight * t.partsPerFile * 2 + 4, env);
  log?.masker.add(...made.secrets, ...proxyPasswords(env));
  const { client, proxy } = made;
  const endpoint = made.endpoint ?? 'the S3 endpoint';
  return { client, budget: new ByteBudget(t.memory, t.partSize), via: proxy ? `${endpoint} through proxy ${proxy}` : endpoint };
}
