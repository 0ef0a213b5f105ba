import { usageError } from './errors.ts';

/**
 * Parses a run-definition CSV (RFC 4180: a header row, commas, double quotes around cells that hold
 * commas, quotes or line breaks).
 */
export function parseCsv(text: string, source: string): Array<Record<string, string>> {
  const rows = records(text.replace(/^\uFEFF/, '')).filter((r) => r.length > 1 || r[0].trim() !== '');
  if (rows.length === 0)
    throw usageError(`${source} is empty`, 'the first line names the columns, e.g. s3_input,s3_output');
  const [header, ...body] = rows;
  for (const need of ['s3_input', 's3_output']) {
    if (!header.includes(need))
      throw usageError(
        `${source} has no '${need}' column (columns: ${header.join(', ')})`,
        'the header must name s3_input and s3_output',
      );
  }
  return body.map((cells, i) => {
    if (cells.length !== header.length)
      throw usageError(`${source}:${i + 2}: ${cells.length} cells, the header has ${header.length}`);
    return Object.fromEntries(header.map((h, j) => [h, cells[j]]));
  });
}

/** The records of a CSV text: a line break inside quotes belongs to the cell; cells are trimmed outside quotes. */
function records(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cur = '';
  let quoted = false;
  const cell = () => {
    row.push(cur.trim());
    cur = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') cell();
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      cell();
      out.push(row);
      row = [];
    } else cur += c;
  }
  if (cur !== '' || row.length > 0) {
    cell();
    out.push(row);
  }
  return out;
}

/** One cell as CSV: quoted when it holds a comma, a quote, a line break, or spaces at either end. */
function cell(v: string): string {
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** A CSV file (the header, then one line per record) that parseCsv reads back as the same records. */
export function formatCsv(header: string[], records: Array<Record<string, string>>): string {
  const lines = [header, ...records.map((r) => header.map((h) => r[h] ?? ''))];
  return lines.map((l) => l.map(cell).join(',')).join('\n') + '\n';
}

/** The column names of a run-definition CSV (its first line). */
export function csvHeader(text: string): string[] {
  return records(text.replace(/^\uFEFF/, '')).find((r) => r.length > 1 || r[0].trim() !== '') ?? [];
}

/** Renders `${name}` placeholders from `vars` (what the platform does to template files). */
export function render(template: string, vars: Record<string, string>): string {
  return template.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (m, k: string) => vars[k] ?? m);
}
