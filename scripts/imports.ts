// The import graph of agent/, read from the code: fails (exit 1) on a circle of files, or on an import
// from a lower layer to a higher one (the layers below, from the top). `npm run lint` runs it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const AGENT = join(ROOT, 'agent');

/** Top first. A file's layer is the first entry its path (under agent/) starts with. */
const LAYERS = [
  ['cli.ts', 'help.ts'],
  ['commands/'],
  ['run/', 'doe/', 'context.ts'],
  ['rundir/', 'prefix/', 'transfer/', 'solver/', 'checkpoint/', 'notices/'],
  ['stores.ts'],
  ['s3/', 'azure/'],
  ['store/', 'zip/', 'policy.ts', 'policy-azure.ts'],
  ['config.ts', 'config/'],
  ['net/', 'flags/', 'native/', 'platform.ts', 'heap.ts'],
  [''], // everything else: the ground (errors, log, names, location, workers…)
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layer(file: string): number {
  const rel = relative(AGENT, file);
  return LAYERS.findIndex((l) => l.some((prefix) => rel.startsWith(prefix)));
}

const graph = new Map<string, string[]>();
for (const f of files(AGENT)) {
  const text = readFileSync(f, 'utf8');
  const specs = [...text.matchAll(/(?:from|import\(|import)\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]);
  const deps = specs.map((spec) => resolve(dirname(f), spec));
  graph.set(
    f,
    deps.filter((d) => d.startsWith(AGENT) && d.endsWith('.ts')),
  );
}

const problems: string[] = [];
for (const [f, deps] of graph)
  for (const d of deps)
    if (layer(d) < layer(f) && relative(AGENT, dirname(f)) !== relative(AGENT, dirname(d)))
      problems.push(`imports upward: ${relative(ROOT, f)} → ${relative(ROOT, d)}`);

// Circles: Tarjan's strongly connected components of more than one file (or a file importing itself).
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const on = new Set<string>();
function visit(v: string): void {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  on.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) !== idx.get(v)) return;
  const scc: string[] = [];
  let w: string;
  do {
    w = stack.pop()!;
    on.delete(w);
    scc.push(w);
  } while (w !== v);
  if (scc.length > 1 || (graph.get(v) ?? []).includes(v))
    problems.push(`a circle of imports: ${scc.map((x) => relative(ROOT, x)).join(' → ')}`);
}
for (const v of graph.keys()) if (!idx.has(v)) visit(v);

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`imports: ${graph.size} files of agent/, no circle, no import upward\n`);
