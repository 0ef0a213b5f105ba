import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openNative } from '../../agent/native/index.ts';

// In a child process: becoming a subreaper lasts for the life of the process, not of a test.
const probe = `
import { loadNative } from './agent/native/index.ts';
const l = loadNative();
if (!l.ok) throw new Error(l.why);
const before = l.native.isChildSubreaper();
l.native.setChildSubreaper();
console.log(JSON.stringify({ before, after: l.native.isChildSubreaper(), reapInit: l.native.reap(1) }));
`;

describe('the native addon (agent/native)', () => {
  it('loads from the source tree and makes this process the subreaper of its orphans', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      encoding: 'utf8',
    });
    // reap(1): init is not a child of ours, so waitpid says ECHILD (10)
    expect(JSON.parse(out)).toEqual({ before: false, after: true, reapInit: -10 });
  });

  it('a missing addon is a reason, not a crash', () => {
    const l = openNative('/nonexistent/ferry-native.node');
    expect(l.ok).toBe(false);
    expect(!l.ok && l.why).toMatch(/^ferry's native addon did not load: .*\/nonexistent\/ferry-native\.node/);
  });
});
