// `ferry doe status` on stdout: one line per row (text table or JSON lines), then a count per status.
import { formatUri } from '../location.ts';
import { formatBytes, formatDuration } from '../log.ts';
import { ROW_STATUSES, type RowState, type RowStatus } from './status.ts';
import { renderTable } from './table.ts';

/** `3`, `SIGTERM`, or `-` when the solver has no exit code (no manifest, could not start). */
export function exitText(s: RowState): string {
  return s.signal ?? (s.exitCode === null ? '-' : String(s.exitCode));
}

export { formatDuration } from '../log.ts';

/** `ferry 0.1.0 (abc, node 20)` → `0.1.0`. */
export function ferryVersion(line: string | undefined): string {
  return line?.match(/^ferry (\S+)/)?.[1] ?? line ?? '-';
}

export function countStatuses(states: RowState[]): Record<RowStatus, number> {
  const counts = Object.fromEntries(ROW_STATUSES.map((s) => [s, 0])) as Record<RowStatus, number>;
  for (const s of states) counts[s.status]++;
  return counts;
}

/** `6 rows: 2 complete, 1 solver-failed, …` (statuses no row has are left out). */
export function countsLine(states: RowState[]): string {
  const counts = countStatuses(states);
  const order: RowStatus[] = ['complete', ...ROW_STATUSES.filter((s) => s !== 'complete')];
  const parts = order.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  return `${states.length} row(s): ${parts.join(', ') || 'none'}`;
}

export function textReport(states: RowState[]): string {
  const head = ['row', 'status', 'exit', 'files', 'bytes', 'duration', 'attempts', 'ferry', 'started', 'host', 'note'];
  const lines = states.map((s) => [
    s.row.name,
    s.status,
    exitText(s),
    s.files === undefined ? '-' : String(s.files),
    s.bytes === undefined ? '-' : formatBytes(s.bytes),
    formatDuration(s.seconds),
    s.attempts === undefined ? '-' : String(s.attempts),
    ferryVersion(s.ferry),
    // when and where the attempt that wrote the manifest ran (UTC, to the minute)
    s.startedAt ? `${s.startedAt.slice(0, 16)}Z` : '-',
    s.host ?? '-',
    s.note ?? '',
  ]);
  const running = states.filter((s) => s.progress).map((s) => `  ${s.row.name}: ${s.progress}`);
  const progress = running.length ? `\n\nrunning rows, from the log each uploaded last:\n${running.join('\n')}` : '';
  return `${renderTable([head, ...lines])}${progress}\n\n${countsLine(states)}\n`;
}

/** The same as JSON lines: one object per row, then one with the counts. */
export function jsonReport(states: RowState[]): string {
  const rows = states.map((s) =>
    JSON.stringify({
      type: 'row',
      row: s.row.name,
      output: formatUri(s.row.output),
      status: s.status,
      exit_code: s.exitCode,
      signal: s.signal,
      files: s.files ?? null,
      bytes: s.bytes ?? null,
      duration_s: s.seconds ?? null,
      started_at: s.startedAt ?? null,
      host: s.host ?? null,
      ferry: s.ferry ?? null,
      attempts: s.attempts ?? null,
      checkpoint: s.checkpoint ?? null,
      progress: s.progress ?? null,
      note: s.note ?? null,
    }),
  );
  const counts = JSON.stringify({ type: 'counts', rows: states.length, ...countStatuses(states) });
  return `${[...rows, counts].join('\n')}\n`;
}
