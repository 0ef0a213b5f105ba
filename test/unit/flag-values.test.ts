import { describe, expect, it } from 'vitest';
import { positiveInt } from '../../agent/flags/values.ts';

describe('positiveInt', () => {
  it('takes whole numbers in range, refuses the rest with the limit named', () => {
    expect(positiveInt('8', '--np')).toBe(8);
    for (const bad of ['0', '-1', '2.5', '1e3', '99999999999999999999', '1000001', 'x'])
      expect(() => positiveInt(bad, '--np')).toThrow(/--np must be a whole number from 1 to 1000000/);
    expect(() => positiveInt('101', '--retries', 100)).toThrow(/from 1 to 100/);
  });
});
