import type { S3Settings, TransferSettings } from '../config.ts';
import type { Network } from '../net/index.ts';
import type { ByteBudget } from '../store/budget.ts';
import type { StoreNotes } from '../store/open.ts';
import { makeS3Client } from './client.ts';
import { classifyS3Error } from './errors.ts';
import { MAX_PARTS } from './parts.ts';
import { CheckableS3Store } from './check.ts';
import type { S3Store } from './store.ts';

/** Opens the S3 store: one client sized for every request the transfer settings can have in flight. */
export async function openS3Store(
  s: S3Settings,
  t: TransferSettings,
  budget: ByteBudget,
  env: NodeJS.ProcessEnv,
  net: Network,
  notes?: StoreNotes,
): Promise<{ store: S3Store; secrets: string[] }> {
  const endpoint = s.endpoint ?? 'the S3 endpoint';
  let made: Awaited<ReturnType<typeof makeS3Client>>;
  try {
    made = await makeS3Client(s, net, env, notes);
  } catch (err) {
    throw classifyS3Error(err, { phase: 'config', op: 'reaching the S3 endpoint', target: endpoint, endpoint });
  }
  const where = [made.endpoint ?? 'the S3 endpoint', made.via].filter(Boolean).join(' ');
  const maxParts = Number(env.FERRY_TEST_MAX_PARTS) || MAX_PARTS;
  return { store: new CheckableS3Store(made, where, s, t, budget, maxParts, net), secrets: made.secrets };
}
