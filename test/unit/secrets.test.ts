import { describe, expect, it } from 'vitest';
import { Masker } from '../../agent/secrets.ts';

describe('Masker', () => {
  it('replaces every secret, its percent-encoded and decoded forms, longest first; ignores short values', () => {
    const m = new Masker();
    m.add('s3cr3t-key', 'p%40ss:word', 'ab', undefined);
    expect(m.mask('k=s3cr3t-key p=p@ss:word e=p%40ss%3Aword ab')).toBe('k=*** p=*** e=*** ab');
  });
  it('never cuts inside a secret, and holds back what may be the start of one', () => {
    const m = new Masker();
    m.add('SECRETVALUE');
    const text = 'xxxxxSECRETVALUEyyyyyyyyyyyyyyyyyyyy';
    expect(m.safeCut(text, 8)).toBe(16); // would cut inside the secret: moved past it
    expect(m.safeCut('abcdefSECRE', 100)).toBe(1); // the last 10 characters may be a secret arriving
    expect(new Masker().safeCut('abc', 2)).toBe(2);
  });
});
