import { describe, expect, it } from 'vitest';
import { formatCsv, parseCsv } from '../../agent/csv.ts';
import { printable } from '../../agent/log.ts';
import { manifestProblem } from '../../agent/prefix/manifest.ts';

describe('run definitions (RFC 4180)', () => {
  it('cells with commas, quotes and line breaks go out quoted and come back the same', () => {
    const rows = [
      { s3_input: 's3://b/in/case,v2.zip', s3_output: 's3://b/out/we"ird/' },
      { s3_input: 's3://b/in/two\nlines.zip', s3_output: 's3://b/out/plain/' },
    ];
    const text = formatCsv(['s3_input', 's3_output'], rows);
    expect(text.split('\n')[1]).toBe('"s3://b/in/case,v2.zip","s3://b/out/we""ird/"');
    expect(parseCsv(text, 'inputs.csv')).toEqual(rows);
  });
});

describe('manifests as readers find them', () => {
  it('says what keeps one from being read', () => {
    const ok = { status: 'complete', outputs: [{ path: 'a', size: 1, sha256: 'x', etag: 'e' }], inputs: [] };
    expect(manifestProblem(ok)).toBeUndefined();
    expect(manifestProblem(null)).toBe('it is null, not an object');
    expect(manifestProblem({ status: 'complete', outputs: [null] })).toBe(
      'outputs[0] is null, not {path, size, sha256, etag}',
    );
    expect(manifestProblem({ ...ok, outputs: [{ path: 'a', size: '1' }] })).toBe('outputs[0] has no path or size');
    expect(manifestProblem({ ...ok, inputs: [null] })).toContain('inputs[0] is null');
  });
});

describe('names from elsewhere on a terminal', () => {
  it('control characters shown as \\xNN; line breaks kept only where asked', () => {
    expect(printable('a\x1b[2Jb\x07\r\x9b')).toBe('a\\x1b[2Jb\\x07\\x0d\\x9b');
    expect(printable('line 1\n\tline 2\x1b', true)).toBe('line 1\n\tline 2\\x1b');
  });
});
