import { describe, expect, it } from 'vitest';
import { jsonBytes } from '../../agent/prefix/manifest.ts';

describe('jsonBytes (the manifest, built entry by entry)', () => {
  it('holds exactly what JSON.stringify(m, null, 2) writes (over 1 MiB: several pieces)', () => {
    const m = {
      ferry: 'ferry 0.1.0',
      status: 'complete',
      inputs: [{ uri: 's3://b/in/a "quoted".zip', etag: 'e', size: 1 }],
      solver: { argv: ['mpirun', '-np', '8'], exit_code: 0, signal: null },
      outputs: Array.from({ length: 20000 }, (_, i) => ({
        path: `d/f_${i}.txt`,
        size: i,
        sha256: 'x'.repeat(64),
        etag: 'e',
      })),
      not_uploaded: [],
      kept: [{ path: 'ünïcode', reason: 'was there' }],
    };
    const want = `${JSON.stringify(m, null, 2)}\n`;
    expect(jsonBytes(m).toString('utf8')).toBe(want);
  });
});
