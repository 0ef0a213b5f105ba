// The DOE a job author runs on the platform, replayed locally: inputs.csv with two rows, a vars
// template the platform renders per row, an uploaded AWS `config`, two task slots at once.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { formatBytes } from '../agent/log.ts';
import { cleanEnv, writeAwsConfig, zipCase } from '../test/helpers/ferry.ts';
import { ROOT, type S3Env } from '../test/helpers/env.ts';
import { adminClient, emptyPrefix, ensureBucket, listAll, putBytes } from '../test/helpers/s3.ts';

const BUCKET = 'my-simulation-data';
const CASES = ['hsdi', 'pintle'];
const s3: S3Env = {
  endpoint: process.env.FERRY_TEST_S3_ENDPOINT!,
  accessKey: process.env.FERRY_TEST_S3_ACCESS_KEY!,
  secretKey: process.env.FERRY_TEST_S3_SECRET_KEY!,
  accessKey2: '',
  secretKey2: '',
  kind: process.env.FERRY_TEST_S3_KIND ?? '',
};
const say = (s: string) => process.stdout.write(`\x1b[1mdemo:\x1b[0m ${s}\n`);

const started = Date.now();
const work = join(ROOT, '.build/demo');
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'job'), { recursive: true });
const bin = join(ROOT, '.build/bin');
mkdirSync(bin, { recursive: true });
execFileSync('mpicc', ['-O2', '-o', join(bin, 'converge'), join(ROOT, 'fixtures/solver/fake-converge.c')]);
say(`built the stand-in solver: ${join(bin, 'converge')} (an MPI program playing CONVERGE)`);

const admin = adminClient(s3);
await ensureBucket(admin, BUCKET);
await emptyPrefix(admin, BUCKET, 'output/');
for (const c of CASES) {
  await putBytes(admin, BUCKET, `input/${c}.zip`, readFileSync(zipCase(c, join(work, 'job'))));
  say(`uploaded s3://${BUCKET}/input/${c}.zip`);
}

// What the job author uploads: inputs.csv, the vars template, config (and ferry itself).
const job = join(work, 'job');
writeFileSync(
  join(job, 'inputs.csv'),
  `s3_input,s3_output\n${CASES.map((c) => `s3://${BUCKET}/input/${c}.zip,s3://${BUCKET}/output/${c}/`).join('\n')}\n`,
);
writeFileSync(join(job, 'vars.txt'), 's3_input=${s3_input}\ns3_output=${s3_output}\n');
writeAwsConfig(job, s3);
say(`job files in ${job}: inputs.csv, vars.txt (template), config`);

const rows = readFileSync(join(job, 'inputs.csv'), 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(','));
const command = ['run', '--vars', 'vars.txt', '--aws-config', 'config', '--', 'converge', 'super'];
say(`running ${rows.length} rows at once, each: ferry ${command.join(' ')}`);
const results = await Promise.all(
  rows.map(async ([input, output], i) => {
    const name = CASES[i];
    const slot = join(work, `slot-${i + 1}-${name}`);
    mkdirSync(slot);
    copyFileSync(join(job, 'config'), join(slot, 'config'));
    writeFileSync(
      join(slot, 'vars.txt'),
      readFileSync(join(job, 'vars.txt'), 'utf8').replace('${s3_input}', input).replace('${s3_output}', output),
    );
    const t0 = Date.now();
    const p = execa(join(ROOT, 'bin/ferry'), command, {
      cwd: slot,
      env: cleanEnv({ PATH: `${bin}:${process.env.PATH}`, HOME: work, RESCALE_CORES_PER_SLOT: '8' }),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
      all: true,
      buffer: false,
      lines: true,
    });
    for await (const line of p.iterable({ from: 'all' })) process.stdout.write(`[${name}] ${line}\n`);
    const r = await p;
    return { name, slot, exitCode: r.exitCode, ms: Date.now() - t0 };
  }),
);
for (const r of results)
  say(
    `${r.name}: exit ${r.exitCode} in ${(r.ms / 1000).toFixed(1)} s; run dir now holds: ` +
      `${execFileSync('ls', [r.slot], { encoding: 'utf8' }).trim().replace(/\n/g, ' ')}`,
  );

// The same platform restarting a long row elsewhere: the first attempt is stopped (SIGTERM, as when
// the platform reclaims the node), the next one, in a fresh run dir, carries the row on from its last
// checkpoint.
const long = await preemptedRow();

say(`output objects in s3://${BUCKET}/output/:`);
for (const [key, size] of await listAll(admin, BUCKET, 'output/'))
  process.stdout.write(`  ${formatBytes(size).padStart(10)}  s3://${BUCKET}/${key}\n`);
admin.destroy();
say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = [...results, long].every((r) => r.exitCode === 0) ? 0 : 1;

/** One attempt of the long row in a fresh run directory, its lines prefixed; the steps it computed. */
function longAttempt(n: number, ledger: string) {
  const slot = join(work, `long-attempt-${n}`);
  mkdirSync(slot);
  copyFileSync(join(job, 'config'), join(slot, 'config'));
  const args = ['run', '--aws-config', 'config', '--checkpoint', 'converge', '--settle', '1', '--np', '2'];
  args.push('--input', `s3://${BUCKET}/input/long.zip`, '--output', `s3://${BUCKET}/output/long/`);
  const p = execa(join(ROOT, 'bin/ferry'), [...args, '--', 'converge', 'super'], {
    cwd: slot,
    env: cleanEnv({ PATH: `${bin}:${process.env.PATH}`, HOME: work, FAKE_CONVERGE_STEP_LEDGER: ledger }),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    lines: true,
  });
  const shown = (async () => {
    for await (const line of p.iterable({ from: 'all' })) process.stdout.write(`[long ${n}] ${line}\n`);
  })();
  return { p, done: shown.then(() => p) };
}

async function preemptedRow(): Promise<{ name: string; exitCode?: number }> {
  const src = join(work, 'long-case');
  mkdirSync(src);
  writeFileSync(join(src, 'inputs.in'), 'case_name long\nsteps 12\nrestart_every 3\nsleep_ms 500\nrestart_kib 256\n');
  writeFileSync(join(src, 'surface.dat'), 'the geometry\n');
  execFileSync('zip', ['-qrX', join(work, 'long.zip'), '.'], { cwd: src });
  await putBytes(admin, BUCKET, 'input/long.zip', readFileSync(join(work, 'long.zip')));
  say('a long row (12 steps, a restart file every 3) on capacity the platform takes back:');
  const ledger = join(work, 'long-steps');
  const first = longAttempt(1, ledger);
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const keys = [...(await listAll(admin, BUCKET, 'output/long/_ferry.journal/')).keys()];
    if (keys.length > 0 || first.p.exitCode !== null) break;
  }
  say('the platform stops the node (SIGTERM to ferry): ferry asks CONVERGE for a checkpoint first');
  first.p.kill('SIGTERM');
  const r1 = await first.done;
  say(`attempt 1: exit ${r1.exitCode} (stopped); the platform's retry starts the row on another node`);
  const r2 = await longAttempt(2, ledger).done;
  const steps = existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n') : [];
  const pids = [...new Set(steps.map((l) => l.split(' ')[0]))];
  const per = pids.map((pid) => {
    const mine = steps.filter((l) => l.startsWith(`${pid} `)).map((l) => l.split(' ')[1]);
    return `${mine[0]}–${mine[mine.length - 1]}`;
  });
  say(
    `attempt 2: exit ${r2.exitCode}; steps computed per attempt: ${per.join(', then ')} ` +
      '(the second from the checkpoint the first saved when stopped, not from step 1)',
  );
  return { name: 'long', exitCode: r2.exitCode };
}
