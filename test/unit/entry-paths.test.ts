import { describe, expect, it } from 'vitest';
import { FerryError } from '../../agent/errors.ts';
import { safeEntryPath } from '../../agent/zip/extract.ts';

describe('zip entry paths', () => {
  it('keeps ordinary relative paths', () => {
    expect(safeEntryPath('a.zip', 'case/inputs.in')).toBe('case/inputs.in');
    expect(safeEntryPath('a.zip', './x/./y')).toBe('x/y');
  });
  it.each(['../evil', 'a/../../evil', '/etc/passwd', 'C:\\evil', '..\\evil'])('refuses %s with exit 65', (name) => {
    try {
      safeEntryPath('a.zip', name);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).exitCode).toBe(65);
    }
  });
});
