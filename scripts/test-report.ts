// Skipped tests, made visible (.ci/run calls it after each pass):
//   node --import tsx scripts/test-report.ts REPORT.json [--have TAG]...
// REPORT.json is vitest's JSON report (--reporter=json --outputFile.json=REPORT.json). Prints how
// many tests ran and, for every skipped one, why: the descriptions of its tags (test/helpers/needs.ts).
// --have TAG says this machine provides what TAG stands for. Exits 1 when a skipped test carries no
// tag (nothing says why it skipped), or when every tag it carries is provided (it should have run).
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { NEEDS } from '../test/helpers/needs.ts';

interface Result {
  fullName: string;
  status: string;
  tags?: string[];
}
interface Report {
  testResults: Array<{ name: string; assertionResults: Result[] }>;
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
for (const w of wrong) console.error(`test-report: ${w}`);
process.exit(wrong.length > 0 ? 1 : 0);
