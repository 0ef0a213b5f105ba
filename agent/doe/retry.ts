import type { RowState } from './status.ts';

/**
 * The run definition of the rows that are not complete: the same columns and cells as the file they
 * came from, in its order, ready to submit as a new DOE (a re-run of a row resumes where it stopped).
 */
export function retryRows(states: RowState[]): Array<Record<string, string>> {
  return states.filter((s) => s.status !== 'complete' && s.row.fields).map((s) => s.row.fields!);
}
