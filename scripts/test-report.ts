// Skipped tests, made visible, and where the time went (.ci/run calls it after the tests):
//   node --import tsx scripts/test-report.ts REPORT.json [--have TAG]...
// REPORT.json is vitest's JSON report (--reporter=json --outputFile.json=REPORT.json). Prints how
// many tests ran and, for every skipped one, why: the descriptions of its tags (test/helpers/needs.ts);
// then the wall time of each group of files (unit, smoke, the parallel e2e files, the serial ones
// vitest.config.ts names) and the slowest files.
// --have TAG says this machine provides what TAG stands for. Exits 1 when a skipped test carries no
// tag (nothing says why it skipped), or when every tag it carries is provided (it should have run).
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { NEEDS } from '../test/helpers/needs.ts';
import { EXCLUSIVE } from '../vitest.config.ts';

interface Result {
  fullName: string;
  status: string;
  tags?: string[];
}
interface Report {
  startTime: number;
  testResults: Array<{ name: string; startTime: number; endTime: number; assertionResults: Result[] }>;
}

const [file, ...opts] = process.argv.slice(2);
const have = new Set<string>();
for (let i = 0; i < opts.length; i++) {
  if (opts[i] === '--have' && opts[i + 1]) have.add(opts[++i]);
  else {
    console.error('usage: scripts/test-report.ts REPORT.json [--have TAG]...');
    process.exit(64);
  }
}
if (!file) {
  console.error('usage: scripts/test-report.ts REPORT.json [--have TAG]...');
  process.exit(64);
}

const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
const why = new Map(NEEDS.map((n) => [n.name, n.description]));
const byReason = new Map<string, string[]>();
const wrong: string[] = [];
let total = 0;
let skipped = 0;
for (const f of report.testResults) {
  for (const t of f.assertionResults) {
    total++;
    if (t.status !== 'skipped' && t.status !== 'pending' && t.status !== 'todo') continue;
    skipped++;
    const name = `${relative(process.cwd(), f.name)} > ${t.fullName}`;
    const tags = (t.tags ?? []).filter((tag) => why.has(tag));
    const missing = tags.filter((tag) => !have.has(tag));
    if (tags.length === 0) wrong.push(`${name}: skipped, and no tag says why`);
    else if (missing.length === 0) wrong.push(`${name}: skipped although this run has ${tags.join(', ')}`);
    const reason =
      missing.length > 0
        ? missing.map((tag) => why.get(tag)).join('; ')
        : tags.length > 0
          ? 'none: it should have run'
          : 'no tag says why';
    byReason.set(reason, [...(byReason.get(reason) ?? []), name]);
  }
}
const provided = have.size > 0 ? ` (this run has: ${[...have].join(', ')})` : '';
console.log(`test-report: ${total} tests, ${total - skipped} ran, ${skipped} skipped${provided}`);
for (const [reason, names] of byReason) {
  console.log(`  ${names.length} skipped: ${reason}`);
  for (const n of names) console.log(`    ${n}`);
}
printTimes(report);
for (const w of wrong) console.error(`test-report: ${w}`);
process.exit(wrong.length > 0 ? 1 : 0);

/** The group a test file runs in (vitest.config.ts's projects). */
function group(file: string): string {
  if (file.startsWith('test/unit/')) return 'unit';
  if (file.startsWith('test/smoke/')) return 'smoke';
  return EXCLUSIVE.includes(file) ? 'e2e, one file at a time' : 'e2e, files in parallel';
}

function printTimes(r: Report): void {
  const files = r.testResults.filter((f) => f.endTime > 0);
  if (files.length === 0) return;
  const s = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
  const end = Math.max(...files.map((f) => f.endTime));
  console.log(`test-report: ${s(end - r.startTime)} from vitest's start to its last file`);
  const groups = new Map<string, typeof files>();
  for (const f of files) {
    const g = group(relative(process.cwd(), f.name));
    groups.set(g, [...(groups.get(g) ?? []), f]);
  }
  for (const [g, fs] of groups) {
    const from = Math.min(...fs.map((f) => f.startTime));
    const to = Math.max(...fs.map((f) => f.endTime));
    console.log(`  ${g}: ${fs.length} file(s), ${s(from - r.startTime)} → ${s(to - r.startTime)}`);
  }
  const slow = [...files].sort((a, b) => b.endTime - b.startTime - (a.endTime - a.startTime)).slice(0, 8);
  console.log(
    `  slowest: ${slow.map((f) => `${relative(process.cwd(), f.name)} ${s(f.endTime - f.startTime)}`).join(', ')}`,
  );
}
