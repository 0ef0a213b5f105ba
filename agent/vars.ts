import { readFileSync } from 'node:fs';
import { errnoCode, usageError } from './errors.ts';

/**
 * Parses a rendered `key=value` vars file: `#` comments, blank lines, optional `export `,
 * optional single or double quotes around the value. The platform renders `${s3_input}` into such
 * a template; a placeholder left unrendered is reported, not used as a URI.
 */
export function parseVars(text: string, source: string): Map<string, string> {
  const vars = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      throw usageError(
        `${source}:${i + 1}: expected key=value, got '${line}'`,
        'each line is key=value; comments start with #',
      );
    }
    let value = m[2];
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
    } else {
      value = value.replace(/\s+#.*$/, '').trim();
    }
    if (/\$\{[^}]*\}/.test(value)) {
      throw usageError(
        `${source}:${i + 1}: ${m[1]} still holds a placeholder '${value}'`,
        'the platform did not render this template: check that the template file is declared ' +
          'and the column exists in the DOE run definition',
      );
    }
    vars.set(m[1], value);
  });
  return vars;
}

export function readVarsFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(
      `cannot read --vars file '${path}' (${errnoCode(err) ?? String(err)})`,
      'pass the path of the rendered template file',
    );
  }
  return parseVars(text, path);
}
