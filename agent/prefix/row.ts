// What makes a DOE row the same row in every attempt, on any node: its output prefix, its inputs (URI
// and the ETag each had when the attempt began), and the solver's command line (the launcher and its
// -np may differ between nodes: not part of it). The lease, the journal and the manifest carry its key.
import { createHash } from 'node:crypto';
import { formatUri, type Location } from '../location.ts';

export interface RowIdentity {
  /** sha256 of the three below, 16 hex digits. */
  key: string;
  output: string;
  inputs: Array<{ uri: string; etag: string }>;
  solver: string[];
  /** The platform's job id when the environment has one (RESCALE_JOB_ID): for people, not for the key. */
  jobId?: string;
}

export function rowIdentity(
  output: Location,
  inputs: Array<{ uri: string; etag: string }>,
  solver: string[],
  env: NodeJS.ProcessEnv,
): RowIdentity {
  const sorted = [...inputs].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  const text = JSON.stringify({ output: formatUri(output), inputs: sorted, solver });
  const key = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const jobId = env.RESCALE_JOB_ID || undefined;
  return { key, output: formatUri(output), inputs: sorted, solver, ...(jobId ? { jobId } : {}) };
}

/** A short, unique name for one attempt of a row (in the lease, the journal, the manifest). */
export function attemptId(): string {
  const t = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${t}-${createHash('sha256').update(`${process.pid}${Math.random()}`).digest('hex').slice(0, 6)}`;
}
