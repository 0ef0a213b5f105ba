import { printable } from '../log.ts';

/**
 * A plain text table: columns padded to their widest cell, two spaces apart, no trailing blanks. Cells
 * come from stores (keys, notes): control characters are shown escaped, never sent to the terminal.
 */
export function renderTable(cells: string[][]): string {
  const rows = cells.map((row) => row.map((c) => printable(c)));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
