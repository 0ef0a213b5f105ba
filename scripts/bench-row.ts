// `scripts/bench row|row-many`: a whole row as the user pays for it, ferry's binary against the
// hand-written template (aws s3 cp, unzip, the solver, aws s3 sync ., rm -rf) on the same server.
// Overhead = wall − the solver's own time (it prints its start and exit). ferry's overhead is broken
// down by phase from the arrival time of its own log lines; the physical floor is printed beside it.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from '../test/helpers/env.ts';
import { ensureData, randomFile } from './bench-data.ts';
import { freshFilesystem, median, serverCpu } from './bench-kit.ts';

const FERRY = resolve(ROOT, process.env.FERRY_BIN ?? 'dist/ferry');
const E = process.env.FERRY_TEST_S3_ENDPOINT!;
const BUCKET = `ferry-bench-row-${process.pid}`;
const DATA = join(ROOT, '.build/bench');
const RUNS = Number(process.env.FERRY_BENCH_RUNS ?? 3);
const MiB = 1024 * 1024;
const AWS = ['/usr/bin/aws', '--endpoint-url', E];
const SOLVER = join(ROOT, 'fixtures/bench/row-solver.mjs');
const env: Record<string, string> = { ...(process.env as Record<string, string>), AWS_ENDPOINT_URL: E };
delete env.AWS_CA_BUNDLE;

interface Run {
  wall: number;
  solver: number;
  rssKiB: number;
  cpu: number;
  serverCpu: number;
  /** Seconds from the start to each log mark (ferry) or step (template). */
  marks: Record<string, number>;
}

/** Runs `cmd` under GNU time in `cwd`; every stdout/stderr line's arrival time is kept against its text. */
function timed(cmd: string[], cwd: string, marks: Array<[string, RegExp]>): Promise<Run> {
  const rssFile = join(DATA, `row-rss-${process.pid}.txt`);
  const s0 = serverCpu();
  const t0 = Date.now();
  const got: Record<string, number> = {};
  let start = 0;
  let exit = 0;
  let tailText = '';
  return new Promise((ok, fail) => {
    const p = spawn('/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, ...cmd], { cwd, env, stdio: 'pipe' });
    const onLine = (line: string) => {
      const now = (Date.now() - t0) / 1000;
      tailText = (tailText + line + '\n').slice(-3000);
      const s = /solver-start (\d+)/.exec(line);
      if (s) start = Number(s[1]);
      const x = /solver-exit (\d+)/.exec(line);
      if (x) exit = Number(x[1]);
      for (const [name, re] of marks) if (got[name] === undefined && re.test(line)) got[name] = now;
    };
    for (const stream of [p.stdout, p.stderr]) {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
    p.on('error', fail);
    p.on('close', (code) => {
      const wall = (Date.now() - t0) / 1000;
      if (code !== 0) return fail(new Error(`${cmd.join(' ')} failed (${code}):\n${tailText}`));
      const [rss, user, sys] = readFileSync(rssFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      got['solver start'] = (start - t0) / 1000;
      got['solver exit'] = (exit - t0) / 1000;
      ok({
        wall,
        solver: (exit - start) / 1000,
        rssKiB: rss,
        cpu: user + sys,
        serverCpu: serverCpu() - s0,
        marks: got,
      });
    });
  });
}

/** The issue's input: a 150 MiB mesh (incompressible, stored) and the 2,000 CSV entries of get.zip. */
async function rowZip(): Promise<string> {
  const zip = join(DATA, 'row.zip');
  if (existsSync(zip)) return zip;
  await ensureData(DATA);
  const src = join(DATA, 'row-src');
  rmSync(src, { recursive: true, force: true });
  cpSync(join(DATA, 'get-src/case'), join(src, 'case'), { recursive: true });
  randomFile(join(src, 'case/mesh.bin'), 150 * MiB, 42);
  execFileSync('zip', ['-q', '-r', '-n', '.bin', zip, 'case'], { cwd: src });
  rmSync(src, { recursive: true, force: true });
  return zip;
}

const aws = (args: string[]) => execFileSync(AWS[0], [...AWS.slice(1), ...args], { env, stdio: 'ignore' });
const rmPrefix = (p: string) => aws(['s3', 'rm', '--quiet', '--recursive', `s3://${BUCKET}/${p}`]);

/** ferry's log lines that end each phase, in order. */
const FERRY_MARKS: Array<[string, RegExp]> = [
  ['input ready', /^ferry: input ready/],
  ['launching', /^ferry: launching/],
  ['solver ended (ferry saw it)', /^ferry: solver ended/],
  ['sweep uploaded', /^ferry: (uploaded \d+\/\d+ file|nothing left to upload)/],
  ['manifest written', /^ferry: wrote .*_manifest\.json/],
  ['_SUCCESS written', /^ferry: wrote .*_SUCCESS/],
  ['wipe done', /^ferry: all outputs verified; removed/],
  ['summary', /^ferry: summary/],
];
const TEMPLATE_MARKS: Array<[string, RegExp]> = [
  ['downloaded', /^tpl: downloaded/],
  ['unzipped', /^tpl: unzipped/],
  ['synced', /^tpl: synced/],
];

function solverArgs(many: boolean): string[] {
  return many ? ['4', '100', '3', '20000', 'spread'] : ['4', '100', '3', '500', 'end'];
}

async function one(tool: string, many: boolean, fs: string, n: number, settle?: string): Promise<Run> {
  const dir = join(fs, `${tool.replace(/\W+/g, '-')}-${n}`);
  mkdirSync(dir, { recursive: true });
  execFileSync('sync');
  const out = `out-${n}-${tool.replace(/\W+/g, '-')}/`;
  try {
    if (tool.startsWith('ferry')) {
      const flags = settle ? ['--settle', settle] : [];
      const cmd = [FERRY, 'run', '--input', `s3://${BUCKET}/row.zip`, '--output', `s3://${BUCKET}/${out}`];
      return await timed([...cmd, '--no-mpi', ...flags, '--', process.execPath, SOLVER, ...solverArgs(many)], dir, [
        ...FERRY_MARKS,
      ]);
    }
    const a = AWS.join(' ');
    const script =
      `set -e; ${a} s3 cp --quiet s3://${BUCKET}/row.zip row.zip; echo tpl: downloaded; unzip -q row.zip; ` +
      `rm row.zip; echo tpl: unzipped; ${process.execPath} ${SOLVER} ${solverArgs(many).join(' ')}; ` +
      `${a} s3 sync --quiet . s3://${BUCKET}/${out}; echo tpl: synced; cd ..; rm -rf ${dir}`;
    return await timed(['sh', '-c', script], dir, TEMPLATE_MARKS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmPrefix(out);
  }
}

const overhead = (r: Run) => r.wall - r.solver;
const f2 = (x: number) => x.toFixed(2);

type Rates = {
  read: number;
  write: number;
  /** The AWS CLI's own time for one tiny request (its start-up and a round trip), taken off both. */
  cliS: number;
  /** The same rates with that time left in (how this bench measured them until 2026-12-03). */
  readWithCli: number;
  writeWithCli: number;
  creates: number;
  createS: number;
  inflateS: number;
};

/** Seconds `fn` took. */
function secs(fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * The server's read and write rates (MiB/s), measured now with the AWS CLI on the input zip, and the
 * local costs. The CLI's start-up is not the server's: it takes ~0.45 s of Python here before its
 * first request, half of what `aws s3 cp` of the 206 MiB zip takes. So the time of a one-request call
 * (`s3api head-object`, start-up and a round trip) is taken off each copy's time.
 */
async function serverRates(zip: string, fs: string): Promise<Rates> {
  const mib = statSync(zip).size / MiB;
  const cliS = Math.min(
    ...[0, 1].map(() => secs(() => aws(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'row.zip']))),
  );
  const readS = secs(() => aws(['s3', 'cp', '--quiet', `s3://${BUCKET}/row.zip`, join(fs, 'rate.zip')]));
  const writeS = secs(() => aws(['s3', 'cp', '--quiet', join(fs, 'rate.zip'), `s3://${BUCKET}/rate.zip`]));
  rmSync(join(fs, 'rate.zip'));
  // (a copy can't take less than a round trip: a tenth of its time at least stays the server's)
  const net = (s: number) => Math.max(s - cliS, s / 10);
  return {
    read: mib / net(readS),
    write: mib / net(writeS),
    cliS,
    readWithCli: mib / readS,
    writeWithCli: mib / writeS,
    ...localCosts(zip, fs),
  };
}

/**
 * What the byte floor leaves out, measured on the run's filesystem: creating as many empty files as
 * the input has (serially: the kernel's part of an extraction), and inflating the whole archive in
 * its deflated entries in one thread from the page cache (zlib, through Python's zipfile).
 */
function localCosts(zip: string, fs: string): { creates: number; createS: number; inflateS: number } {
  const names = execFileSync('zipinfo', ['-1', zip], { encoding: 'utf8', maxBuffer: 64 * MiB }).split('\n');
  const creates = names.filter((n) => n && !n.endsWith('/')).length;
  const dir = join(fs, 'create-rate');
  mkdirSync(dir, { recursive: true });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < creates; i++) closeSync(openSync(join(dir, `f${i}`), 'wx'));
  const createS = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(dir, { recursive: true });
  const t1 = process.hrtime.bigint();
  // zlib's inflate, as ferry's workers use it (Info-ZIP's `unzip -p` took 2.8 s where zlib took 1.3 s here)
  const py = [
    'import sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    'for i in z.infolist():',
    '  if i.compress_type == 8: z.read(i)',
  ].join('\n');
  execFileSync('python3', ['-c', py, zip]);
  return { creates, createS, inflateS: Number(process.hrtime.bigint() - t1) / 1e9 };
}

/** ferry's phases, as medians of the spans between its log marks (s). */
function phases(runs: Run[]): string[] {
  const span = (a: string, b: string) => f2(median(runs.map((r) => (r.marks[b] ?? NaN) - (r.marks[a] ?? 0))));
  const m = (k: string) => f2(median(runs.map((r) => r.marks[k] ?? NaN)));
  return [
    `  to the solver's start ${m('solver start')} s: lease, plan, download + inflate + write ${m('input ready')} s, ` +
      `then baseline scan and launch ${span('input ready', 'solver start')} s`,
    `  solver exit → ferry exit ${f2(median(runs.map((r) => r.wall - r.marks['solver exit'])))} s: ` +
      `processes ended ${span('solver exit', 'solver ended (ferry saw it)')} s, ` +
      `scan + upload + verify of what was left ${span('solver ended (ferry saw it)', 'sweep uploaded')} s, ` +
      `manifest ${span('sweep uploaded', 'manifest written')} s, ` +
      `log + _SUCCESS ${span('manifest written', '_SUCCESS written')} s, ` +
      `wipe ${span('_SUCCESS written', 'wipe done')} s, exit ${span('wipe done', 'summary')} s`,
  ];
}

async function bench(many: boolean): Promise<string> {
  const zip = await rowZip();
  aws(['s3', 'mb', `s3://${BUCKET}`]);
  aws(['s3', 'cp', '--quiet', zip, `s3://${BUCKET}/row.zip`]);
  const fs = freshFilesystem(DATA);
  const settle = process.env.FERRY_BENCH_ROW_SETTLE;
  const tools = ['ferry run (defaults)', ...(settle ? [`ferry run --settle ${settle}`] : []), 'template'];
  const got = new Map<string, Run[]>(tools.map((t) => [t, []]));
  const rates: Rates[] = [];
  try {
    for (let n = 0; n < RUNS; n++) {
      rates.push(await serverRates(zip, fs.dir));
      for (const t of tools) {
        const r = await one(t, many, fs.dir, n, t.includes('--settle') ? settle : undefined);
        got.get(t)!.push(r);
        console.log(
          `bench: row${many ? '-many' : ''} ${t} run ${n + 1}: wall ${f2(r.wall)} s, solver ${f2(r.solver)} s, ` +
            `overhead ${f2(overhead(r))} s, RSS ${(r.rssKiB / 1024).toFixed(0)} MiB, CPU ${r.cpu.toFixed(1)} + ` +
            `server ${r.serverCpu.toFixed(1)} s; ${JSON.stringify(r.marks)}`,
        );
      }
    }
  } finally {
    fs.done();
    aws(['s3', 'rb', '--force', `s3://${BUCKET}`]);
  }
  return report(many, zip, got, rates);
}

function report(many: boolean, zip: string, got: Map<string, Run[]>, rates: Rates[]) {
  const tpl = median(got.get('template')!.map(overhead));
  const read = median(rates.map((r) => r.read));
  const write = median(rates.map((r) => r.write));
  const zipMiB = statSync(zip).size / MiB;
  // What the solver still wrote in its last second (the last post file's last third and the logs).
  const lastMiB = many ? 100 / 3 + 0.2 : 100 / 3 + 2.3;
  const floor = zipMiB / read + lastMiB / write;
  // The floor as this bench printed it until 2026-12-03: with the AWS CLI's start-up in both rates.
  const floorWithCli =
    zipMiB / median(rates.map((r) => r.readWithCli)) + lastMiB / median(rates.map((r) => r.writeWithCli));
  const name = many ? 'row-many (20,000 small outputs over the run)' : 'row (500 small logs at the end)';
  const lines = [
    `| case | tool | overhead s (median) | range | vs template | vs floor | peak RSS MiB | CPU s: tool + server |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [tool, runs] of got) {
    const o = runs.map(overhead);
    lines.push(
      `| ${name} | ${tool} | ${f2(median(o))} | ${f2(Math.min(...o))}–${f2(Math.max(...o))} | ` +
        `${(median(o) / tpl).toFixed(2)}× | ${(median(o) / floor).toFixed(2)}× | ` +
        `${(Math.max(...runs.map((r) => r.rssKiB)) / 1024).toFixed(0)} | ` +
        `${f2(median(runs.map((r) => r.cpu)))} + ${f2(median(runs.map((r) => r.serverCpu)))} |`,
    );
  }
  lines.push(
    '',
    `Floor ${f2(floor)} s: the input's ${zipMiB.toFixed(0)} MiB at the server's read rate (${read.toFixed(0)} MiB/s, ` +
      `aws s3 cp, median) + the ~${lastMiB.toFixed(0)} MiB written in the solver's last second at its write rate ` +
      `(${write.toFixed(0)} MiB/s); both rates with the AWS CLI's own ${f2(median(rates.map((r) => r.cliS)))} s ` +
      `(start-up and a round trip: s3api head-object) taken off. With it left in, as this bench measured ` +
      `until 2026-12-03, the floor is ${f2(floorWithCli)} s and ferry's overhead ` +
      `${[...got]
        .filter(([t]) => t.startsWith('ferry'))
        .map(([t, r]) => `${(median(r.map(overhead)) / floorWithCli).toFixed(2)}× it (${t})`)
        .join(', ')}.`,
    `Left out of it, measured on the run's filesystem (medians): creating the input's ${rates[0]?.creates} files ` +
      `${f2(median(rates.map((r) => r.createS)))} s (one after another; the kernel's part of any extraction), ` +
      `inflating its deflated entries in one thread (zlib) ${f2(median(rates.map((r) => r.inflateS)))} s; ` +
      `the two cores are shared with the server.`,
  );
  for (const [tool, runs] of got) if (tool.startsWith('ferry')) lines.push(`${tool}:`, ...phases(runs));
  const t = got.get('template')!;
  const tm = (k: string) => f2(median(t.map((r) => r.marks[k])));
  lines.push(
    `template: download ${tm('downloaded')} s, unzip → ${tm('unzipped')} s, solver, sync ` +
      `${f2(median(t.map((r) => r.marks['synced'] - r.marks['solver exit'])))} s, rm ` +
      `${f2(median(t.map((r) => r.wall - r.marks['synced'])))} s`,
  );
  return lines.join('\n');
}

const many = process.argv[2] === 'row-many';
const load = execFileSync('uptime', { encoding: 'utf8' }).trim();
const text = `${await bench(many)}\nLoad at the start: ${load}; at the end: ${execFileSync('uptime', {
  encoding: 'utf8',
}).trim()}\n${RUNS} runs each, interleaved; ${execFileSync(FERRY, ['--version'], { encoding: 'utf8' }).trim()}\n`;
writeFileSync(join(DATA, `results-${process.argv[2]}.md`), text);
console.log(`\n${text}`);
