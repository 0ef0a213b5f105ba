// What makes a DOE row the same row in every attempt, on any node: its output prefix and its inputs
// (URI and the ETag each had when the attempt began). The lease, the journal, the run directory's
// state and the manifest carry its key. The solver's command line (as given: the launcher and its -np
// may differ between nodes) is recorded beside it, not part of it: an attempt with a changed command
// carries the same row on; only "done is done" asks for the same command too (run/done.ts).
import { createHash } from 'node:crypto';
import { formatUri, type Location } from '../location.ts';

export interface RowIdentity {
  /** sha256 of the output and the inputs, 16 hex digits. */
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
  const text = JSON.stringify({ output: formatUri(output), inputs: sorted });
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
