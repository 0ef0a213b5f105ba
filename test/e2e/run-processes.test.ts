import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv, FERRY, tempDir, writeAwsConfig } from '../helpers/ferry.ts';
import { Ledger, pidsWith, processesWith } from '../helpers/ledger.ts';
import { runRow } from '../helpers/run-row.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll } from '../helpers/s3.ts';

// The run's processes, however they detach: the run ends when the launcher exits even while a
// leftover holds its pipes; a helper that drops FERRY_RUN_MARK and detaches (`env -u FERRY_RUN_MARK
// setsid nohup …`) comes to ferry (the child subreaper) and is stopped before the final upload; what
// ferry itself spawns (a credential_process and what it leaves) is left alone.
const BUCKET = 'ferry-i21-procs';
const s3 = inject('s3');
const admin = adminClient(s3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INPUT = `s3://${BUCKET}/in/params.txt`;
/** A shell function that records a finished file in $LEDGER (path<TAB>sha256). */
const REC = 'rec() { printf "%s\\t%s\\n" "$1" "$(sha256sum "$1" | cut -d" " -f1)" >> "$LEDGER"; };';

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  await new Ledger(tempDir('procs-in')).put(admin, BUCKET, 'in/params.txt', 'p=1\n');
});
afterAll(() => admin.destroy());

const hasLease = async (out: string) => (await listAll(admin, BUCKET, `${out}/`)).has(`${out}/_ferry.lease`);

describe('a process that keeps the solver’s stdout open', () => {
  it("bash -c 'setsid sleep 600 & echo out > out.txt; exit 0': ends with the launcher; sleep stopped", async () => {
    const mark = randomUUID();
    const { dir, run } = runRow(s3, {
      bucket: BUCKET,
      out: 'pipe',
      inputs: [INPUT],
      solver: ['bash', '-c', 'setsid sleep 600 & echo out > out.txt; exit 0'],
      extra: ['--grace', '5'],
      env: { TEST_MARK: mark },
    });
    const t0 = Date.now();
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect(Date.now() - t0, 'not the 600 s of the sleep').toBeLessThan(60_000);
    expect(r.stderr).toContain('a process it left still holds its output open: ferry stops reading it');
    expect(r.stderr).toMatch(
      /process \d+ \(sleep 600\) was started by the run and still runs after the launcher exited/,
    );
    expect(processesWith('TEST_MARK', mark)).toEqual([]);
    expect((await getBytes(admin, BUCKET, 'pipe/out.txt')).toString()).toBe('out\n');
    expect(await hasLease('pipe')).toBe(false);
    const ledger = new Ledger(dir);
    ledger.record('out.txt', 'out\n');
    expect(await ledger.lost(admin, BUCKET, 'pipe/')).toEqual([]);
  });

  it('two SIGTERMs while a leftover ignores SIGTERM: ferry ends, 143, says what is true, no lease left', async () => {
    const mark = randomUUID();
    const dir = tempDir('two-signals');
    writeAwsConfig(dir, s3);
    const solver = `setsid sh -c 'trap "" TERM; sleep 600' & echo out > out.txt; exit 0`;
    const args = ['run', '--aws-config', 'config', '--input', INPUT, '--output', `s3://${BUCKET}/signals/`];
    const p = execa(FERRY, [...args, '--grace', '120', '--no-mpi', '--', 'bash', '-c', solver], {
      cwd: dir,
      env: cleanEnv({ TEST_MARK: mark }),
      extendEnv: false,
      reject: false,
      all: true,
    });
    let all = '';
    p.all?.on('data', (d: Buffer) => (all += d.toString()));
    for (let i = 0; i < 600 && !all.includes('still runs after the launcher exited'); i++) await sleep(100);
    p.kill('SIGTERM');
    await sleep(500);
    p.kill('SIGTERM');
    const t0 = Date.now();
    const r = await p;
    expect(Date.now() - t0, 'ends without the 120 s of --grace').toBeLessThan(30_000);
    expect(r.exitCode, r.all).toBe(143);
    expect(r.all).not.toContain('[object Object]');
    expect(r.all).not.toContain('outputs that existed are uploaded');
    // out.txt may have gone up live already (no process writes it)
    expect(r.all).toMatch(
      /stopped by a signal: [01] output\(s\) uploaded and verified.*the run directory was not wiped/,
    );
    expect(processesWith('TEST_MARK', mark)).toEqual([]);
    expect(await hasLease('signals')).toBe(false);
    const ledger = new Ledger(dir);
    ledger.record('out.txt', 'out\n');
    expect(await ledger.lost(admin, BUCKET, 'signals/')).toEqual([]);
  });
});

describe('a helper that drops FERRY_RUN_MARK and detaches', () => {
  /**
   * The helper: writes every 0.2 s for 20 s; on SIGTERM writes its last words and exits. The
   * launcher starts it between two looks at its tree (they come every second: at 1.3 s) and exits as
   * soon as the helper has written its first file, so only the subreaper can find it.
   */
  const helper =
    `${REC} mkdir -p late; echo main > main.txt; rec main.txt; sleep 1.3; ` +
    `env -u FERRY_RUN_MARK setsid nohup sh -c '${REC} ` +
    'trap "echo last words > late/last.txt; rec late/last.txt; exit 0" TERM; ' +
    'i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo "late $i" > late/l_$i.txt; rec late/l_$i.txt; sleep 0.2; done' +
    "' >/dev/null 2>&1 & " +
    // Its trap set (its first file written) before the launcher exits: under load a SIGTERM that came
    // while it was still on its way through env, setsid and nohup found no trap (CI saw it so once).
    'until [ -f late/l_1.txt ]; do sleep 0.02; done; exit 0';

  it('comes to ferry (subreaper), is stopped before the final upload; every byte it wrote is in S3', async () => {
    const mark = randomUUID();
    const ledgerFile = join(tempDir('procs-ledger'), 'ledger.tsv');
    const { dir, run } = runRow(s3, {
      bucket: BUCKET,
      out: 'detached',
      inputs: [INPUT],
      solver: ['sh', '-c', helper],
      extra: ['--grace', '10', '--settle', '0.5'],
      env: { TEST_MARK: mark, LEDGER: ledgerFile },
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).not.toContain('native addon');
    // Named as it is when the launcher has exited: under load still on its way through env, setsid
    // and nohup to the sh they exec (CI saw it so twice).
    const wrappers = '(?:env -u FERRY_RUN_MARK )?(?:setsid )?(?:nohup )?';
    const named = new RegExp(
      `process \\d+ \\(${wrappers}sh -c rec\\(\\).*\\) was started by the run and still runs after`,
    );
    expect(r.stderr, r.stderr).toMatch(named);
    expect(processesWith('TEST_MARK', mark)).toEqual([]);
    const ledger = new Ledger(dir).fromSolver(ledgerFile);
    expect(ledger.files.has('late/last.txt'), 'it got SIGTERM and wrote its last words').toBe(true);
    expect(await ledger.lost(admin, BUCKET, 'detached/')).toEqual([]);
    await sleep(1000);
    expect(existsSync(join(dir, 'late')), 'nothing writes there after ferry').toBe(false);
  });

  it('without the native addon: one warning naming why; a helper that keeps the mark is still found', async () => {
    const mark = randomUUID();
    const ledgerFile = join(tempDir('procs-ledger'), 'ledger.tsv');
    const keeps = helper.replace('env -u FERRY_RUN_MARK ', '');
    const { dir, run } = runRow(s3, {
      bucket: BUCKET,
      out: 'fallback',
      inputs: [INPUT],
      solver: ['sh', '-c', keeps],
      extra: ['--grace', '10', '--settle', '0.5'],
      env: { TEST_MARK: mark, LEDGER: ledgerFile, FERRY_TEST_NO_NATIVE: '1' },
    });
    const r = await run;
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr.match(/FERRY_TEST_NO_NATIVE is set \(tests only\)/g)).toHaveLength(1);
    expect(r.stderr).toContain("ferry finds the run's processes by FERRY_RUN_MARK");
    expect(processesWith('TEST_MARK', mark)).toEqual([]);
    const ledger = new Ledger(dir).fromSolver(ledgerFile);
    expect(await ledger.lost(admin, BUCKET, 'fallback/')).toEqual([]);
  });
});

describe("what ferry spawns itself is not the run's", () => {
  it('a credential_process asked again during the run leaves a daemon: ferry leaves it running', async () => {
    const mark = randomUUID();
    const dir = tempDir('credproc');
    const calls = join(tempDir('credproc-calls'), 'calls');
    const script = join(tempDir('credproc-bin'), 'creds.sh');
    writeFileSync(
      script,
      '#!/bin/sh\n' +
        `echo call >> ${calls}\n` +
        'setsid sleep 37 </dev/null >/dev/null 2>&1 &\n' +
        "exp=$(date -u -d '+8 seconds' +%Y-%m-%dT%H:%M:%SZ)\n" +
        `printf '{"Version":1,"AccessKeyId":"%s","SecretAccessKey":"%s","Expiration":"%s"}\\n' ` +
        `'${s3.accessKey}' '${s3.secretKey}' "$exp"\n`,
    );
    chmodSync(script, 0o755);
    writeFileSync(
      join(dir, 'config'),
      `[default]\nregion = us-east-1\nendpoint_url = ${s3.endpoint}\ncredential_process = ${script}\n`,
    );
    const solver = 'for i in 1 2 3 4 5 6 7 8 9 10; do echo $i > f_$i.txt; sleep 1; done';
    const args = ['run', '--aws-config', 'config', '--input', INPUT, '--output', `s3://${BUCKET}/credproc/`];
    const r = await execa(FERRY, [...args, '--settle', '0.5', '--no-mpi', '--', 'sh', '-c', solver], {
      cwd: dir,
      env: cleanEnv({ TEST_MARK: mark }),
      extendEnv: false,
      reject: false,
      all: true,
    });
    const daemons = pidsWith('TEST_MARK', mark, 'sleep\x0037');
    try {
      expect(r.exitCode, r.all).toBe(0);
      expect(readFileSync(calls, 'utf8').trim().split('\n').length, 'asked again while the solver ran').toBeGreaterThan(
        1,
      );
      expect(r.all).not.toMatch(/\(sleep 37\) was started by the run/);
      expect(daemons.length, 'every daemon it left still runs').toBe(
        readFileSync(calls, 'utf8').trim().split('\n').length,
      );
      const ledger = new Ledger(dir);
      for (let i = 1; i <= 10; i++) ledger.record(`f_${i}.txt`, `${i}\n`);
      expect(await ledger.lost(admin, BUCKET, 'credproc/')).toEqual([]);
    } finally {
      for (const pid of daemons) process.kill(pid, 'SIGKILL'); // the test made them (through ferry)
    }
  });
});
