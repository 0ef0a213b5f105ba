import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeJson } from '../../agent/phases/manifest.ts';

describe('writeJson (the manifest, written entry by entry)', () => {
  it('writes exactly what JSON.stringify(m, null, 2) writes, and returns its size', () => {
    const m = {
      ferry: 'ferry 0.1.0',
      status: 'complete',
      inputs: [{ uri: 's3://b/in/a "quoted".zip', etag: 'e', size: 1 }],
      solver: { argv: ['mpirun', '-np', '8'], exit_code: 0, signal: null },
      outputs: Array.from({ length: 3000 }, (_, i) => ({
        path: `d/f_${i}.txt`,
        size: i,
        sha256: 'x'.repeat(64),
        etag: 'e',
      })),
      not_uploaded: [],
      kept: [{ path: 'ünïcode', reason: 'was there' }],
    };
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-json-')), 'm.json');
    const size = writeJson(file, m);
    const want = `${JSON.stringify(m, null, 2)}\n`;
    expect(readFileSync(file, 'utf8')).toBe(want);
    expect(size).toBe(Buffer.byteLength(want));
  });
});
