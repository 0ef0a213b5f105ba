// `ferry doe status --html FILE`: one self-contained page (inline CSS, no script, no font, no image,
// a Content-Security-Policy that forbids every fetch), readable offline and safe to mail around.
import { formatBytes } from '../log.ts';
import { countStatuses, exitText, ferryVersion, formatDuration } from './report.ts';
import { ROW_STATUSES, type RowState, type RowStatus } from './status.ts';

const COLORS: Record<RowStatus, string> = {
  failed: '#8e0000',
  'solver-failed': '#c62828',
  incomplete: '#ef6c00',
  started: '#1565c0',
  'no-output': '#757575',
  complete: '#2e7d32',
};

const MEANING: Record<RowStatus, string> = {
  failed: 'failed before its solver started (solver not found, input missing, a bad archive)',
  'solver-failed': 'the solver exited non-zero; its outputs are uploaded and verified',
  incomplete: 'stopped (a signal) or some files are not verified in the store',
  started: 'objects but no manifest yet: running, or died without one',
  'no-output': 'nothing under the output prefix: never ran',
  complete: 'the solver exited 0 and every output is verified (_SUCCESS)',
};

const STYLE = `
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#212121;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:#616161;margin:0 0 12px}
.counts{display:flex;gap:8px;flex-wrap:wrap;padding:0;margin:0;list-style:none}
.counts li{padding:3px 10px;border-radius:12px;color:#fff;font-weight:600}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(120px,1fr));gap:6px}
.tile{display:block;padding:8px 6px;border-radius:4px;color:#fff;text-decoration:none;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap;font-weight:600}
.tile small{display:block;font-weight:400;opacity:.9}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e0e0e0;vertical-align:middle}
th{background:#eeeeee;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.bar{display:inline-block;vertical-align:middle;width:160px;height:10px;background:#e0e0e0;border-radius:5px;
margin-right:6px}
.bar span{display:block;height:100%;border-radius:5px;background:#546e7a}
tr.log td{background:#fff8f5;border-bottom:2px solid #e0e0e0}
pre{margin:0;overflow:auto;font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap}
.none{color:#757575;font-style:italic}
.progress{margin:0 0 6px;font-weight:600;color:#1565c0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}dt{font-weight:600}dd{margin:0}
${ROW_STATUSES.map((s) => `.s-${s}{background:${COLORS[s]}}`).join('\n')}
`;

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

/** Rows that need attention first (by status, then in the order of the run definition). */
export function failedFirst(states: RowState[]): RowState[] {
  const rank = (s: RowState) => ROW_STATUSES.indexOf(s.status);
  return states
    .map((s, i) => ({ s, i }))
    .sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i)
    .map(({ s }) => s);
}

function grid(states: RowState[]): string {
  const tiles = states.map((s, i) => {
    const title = `${s.row.name}: ${s.status}, exit ${exitText(s)}${s.progress ? `; ${s.progress}` : ''}`;
    return (
      `<a class="tile s-${s.status}" href="#row-${i}" data-row="${escapeHtml(s.row.name)}" ` +
      `title="${escapeHtml(title)}">${escapeHtml(s.row.name)}<small>${s.status}</small></a>`
    );
  });
  return `<div class="grid">${tiles.join('')}</div>`;
}

function bar(value: number | undefined, max: number, text: string): string {
  if (value === undefined) return '<span class="none">-</span>';
  const pct = max > 0 ? Math.max(1, Math.round((value / max) * 100)) : 0;
  return `<span class="bar"><span style="width:${pct}%"></span></span>${escapeHtml(text)}`;
}

function logRow(s: RowState): string {
  const body = s.logTail
    ? `<pre>${escapeHtml(s.logTail.join('\n'))}</pre>`
    : '<span class="none">no ferry.log was uploaded for this row (a run uploads it right after its manifest)</span>';
  const note = s.note ? `<p>${escapeHtml(s.note)}</p>` : '';
  const progress = s.progress
    ? `<p class="progress" data-progress>running, from the log it uploaded last: ${escapeHtml(s.progress)}</p>`
    : '';
  return `<tr class="log" data-log-of="${escapeHtml(s.row.name)}"><td colspan="8">${note}${progress}${body}</td></tr>`;
}

function tableRows(states: RowState[], index: Map<RowState, number>): string {
  const maxS = Math.max(0, ...states.map((s) => s.seconds ?? 0));
  const maxB = Math.max(0, ...states.map((s) => s.bytes ?? 0));
  return failedFirst(states)
    .map((s) => {
      const cells = [
        `<td><strong>${escapeHtml(s.row.name)}</strong></td>`,
        `<td><span class="badge s-${s.status}">${s.status}</span></td>`,
        `<td class="num">${escapeHtml(exitText(s))}</td>`,
        `<td>${bar(s.seconds, maxS, formatDuration(s.seconds))}</td>`,
        `<td>${bar(s.bytes, maxB, s.bytes === undefined ? '-' : formatBytes(s.bytes))}</td>`,
        `<td class="num">${s.files ?? '-'}</td>`,
        `<td class="num" data-attempts>${s.attempts ?? '-'}</td>`,
        `<td>${escapeHtml(ferryVersion(s.ferry))}</td>`,
      ];
      const attrs = `id="row-${index.get(s)}" data-row="${escapeHtml(s.row.name)}" data-status="${s.status}"`;
      const row = `<tr ${attrs}>${cells.join('')}</tr>`;
      return s.status === 'complete' ? row : row + logRow(s);
    })
    .join('\n');
}

/** The whole page. `source` names what was read (inputs.csv, or the output prefix). */
export function htmlReport(states: RowState[], o: { source: string; ferry: string; at: Date }): string {
  const counts = countStatuses(states);
  const chips = ROW_STATUSES.filter((s) => counts[s] > 0).map(
    (s) => `<li class="s-${s}" data-count="${s}">${counts[s]} ${s}</li>`,
  );
  const index = new Map(states.map((s, i) => [s, i]));
  const sub = `${o.source} · ${states.length} row(s) · read ${o.at.toISOString()} by ${o.ferry}`;
  const legend = ROW_STATUSES.map((s) => `<dt><span class="badge s-${s}">${s}</span></dt><dd>${MEANING[s]}</dd>`);
  const head =
    '<tr><th>row</th><th>status</th><th>exit</th><th>duration</th><th>bytes out</th><th>files</th><th>attempts</th>' +
    '<th>ferry</th></tr>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DOE status: ${escapeHtml(o.source)}</title><style>${STYLE}</style></head>
<body>
<h1>DOE status</h1>
<p class="sub">${escapeHtml(sub)}</p>
<ul class="counts">${chips.join('')}</ul>
<h2>All rows</h2>
${grid(states)}
<h2>Rows that need attention first, with the last lines of their ferry.log</h2>
<table><thead>${head}</thead><tbody>
${tableRows(states, index)}
</tbody></table>
<h2>Statuses</h2><dl>${legend.join('')}</dl>
</body></html>
`;
}
