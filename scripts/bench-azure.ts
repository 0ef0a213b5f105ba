// The Azure half of `scripts/bench` (az-put | az-get | az): ferry against Azurite on 127.0.0.1 (in
// memory), same data as the S3 benches, 3 runs each; medians in MiB/s, peak RSS, and the CPU
// seconds of ferry and of Azurite (they share the cores). No peer: AzCopy is on npm
// (@azure-tools/azcopy-linux) but needs libsecret to start and checks online for new versions,
// which this machine must not do. Not a test: correctness lives in the test suite.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { adminContainer } from '../test/helpers/azure.ts';
import { startAzurite } from '../test/helpers/azurite.ts';
import { ROOT } from '../test/helpers/env.ts';
import { ensureData } from './bench-data.ts';

const FERRY = resolve(ROOT, process.env.FERRY_BIN ?? 'dist/ferry');
const DATA = join(ROOT, '.build/bench');
const RUNS = Number(process.env.FERRY_BENCH_RUNS ?? 3);
const MiB = 1024 * 1024;
const what = process.argv[2] ?? 'az';

mkdirSync(DATA, { recursive: true });
await ensureData(DATA);

const azurite = await startAzurite();
const env = {
  ...(process.env as Record<string, string>),
  AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
};
const container = adminContainer(azurite, 'bench');
await container.create();
const uri = (p: string) => `az://${azurite.account}/bench/${p}`;

function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, USER_HZ
  } catch {
    return 0;
  }
}

interface Sample {
  wall: number;
  rssMiB: number;
  cpu: number;
  serverCpu: number;
}

async function timed(args: string[]): Promise<Sample> {
  const rss = join(DATA, 'rss-az.txt');
  const s0 = cpuOf(azurite.pid);
  const t0 = process.hrtime.bigint();
  const r = await execa('/usr/bin/time', ['-f', '%M %U %S', '-o', rss, FERRY, ...args], {
    env,
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.exitCode !== 0)
    throw new Error(`ferry ${args.join(' ')} failed (${r.exitCode}):\n${String(r.all).slice(-2000)}`);
  const [kib, user, sys] = readFileSync(rss, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wall, rssMiB: kib / 1024, cpu: user + sys, serverCpu: cpuOf(azurite.pid) - s0 };
}

async function emptyPrefix(prefix: string): Promise<void> {
  for await (const b of container.listBlobsFlat({ prefix })) await container.deleteBlob(b.name);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const lines = [
  '| case | tool | median s | MiB/s | peak RSS MiB | CPU s: ferry + Azurite |',
  '|---|---|---|---|---|---|',
];

async function bench(name: string, bytes: number, reset: () => Promise<void>, args: () => string[]): Promise<void> {
  const samples: Sample[] = [];
  for (let r = 0; r < RUNS; r++) {
    await reset();
    const s = await timed(args());
    samples.push(s);
    console.log(`bench: ${name} run ${r + 1}: ${s.wall.toFixed(2)} s, ${s.rssMiB.toFixed(0)} MiB RSS`);
  }
  const m = median(samples.map((s) => s.wall));
  const cpu = `${median(samples.map((s) => s.cpu)).toFixed(1)} + ${median(samples.map((s) => s.serverCpu)).toFixed(1)}`;
  const rss = Math.max(...samples.map((s) => s.rssMiB)).toFixed(0);
  lines.push(`| ${name} | ferry | ${m.toFixed(2)} | ${(bytes / MiB / m).toFixed(0)} | ${rss} | ${cpu} |`);
}

try {
  if (what === 'az-put' || what === 'az') {
    const src = join(DATA, 'put');
    const bytes = Number(execFileSync('du', ['-sb', src], { encoding: 'utf8' }).split('\t')[0]);
    await bench(
      'put ~1 GiB (8×100 MiB, 200 MiB, 500 small) to Azurite',
      bytes,
      () => emptyPrefix('put/'),
      () => ['put', src, uri('put/')],
    );
  }
  if (what === 'az-get' || what === 'az') {
    const zip = join(DATA, 'get.zip');
    const b = readFileSync(zip);
    await container.getBlockBlobClient('get.zip').uploadData(b);
    const out = join(DATA, 'az-get-out');
    await bench(
      `get zip ${(statSync(zip).size / MiB).toFixed(0)} MiB → 250 MiB, 2,000 entries, from Azurite`,
      statSync(zip).size,
      async () => rmSync(out, { recursive: true, force: true }),
      () => ['get', uri('get.zip'), out],
    );
    rmSync(out, { recursive: true, force: true });
  }
} finally {
  await azurite.stop();
}
const version = (await execa(FERRY, ['--version'])).stdout;
const cores = execFileSync('nproc', [], { encoding: 'utf8' }).trim();
console.log(
  `\n${lines.join('\n')}\nMachine: ${cores} cores, Azurite 3.35 in memory on 127.0.0.1, ${version}; ${RUNS} runs each.`,
);
