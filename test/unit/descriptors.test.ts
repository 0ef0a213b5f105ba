import { describe, expect, it } from 'vitest';
import { descriptorsFor, fitDescriptors, openFilesLimit } from '../../agent/config/transfer.ts';

const t = { filesInFlight: 4, smallInFlight: 64, partsPerFile: 4, partSize: 8 << 20, memory: 256 << 20 };

describe('transfers sized to the limit of open files', () => {
  it('reads the soft limit from /proc', () => {
    expect(openFilesLimit()).toBeGreaterThan(0);
  });
  it('a high limit changes nothing; a low one puts fewer in flight (within it), with a note naming it', () => {
    expect(fitDescriptors(t, 65536)).toEqual(t);
    const f = fitDescriptors(t, 100);
    expect(descriptorsFor(f)).toBeLessThanOrEqual(100 - 48 - 4 * 2); // this machine's reserve is at least that
    expect(f.smallInFlight).toBeGreaterThanOrEqual(1);
    expect(f.descriptorNote).toContain('the limit of open files (ulimit -n) is 100');
    expect(fitDescriptors(t, undefined)).toEqual(t);
  });
});
