import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import pLimit from 'p-limit';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { ROOT } from '../helpers/env.ts';
import { cleanEnv, ferry, tempDir, writeAwsConfig, zipCase, type FerryResult } from '../helpers/ferry.ts';
import { waitFor } from '../helpers/net.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { expectedOutputs } from '../helpers/solver.ts';

// A DOE of 6 rows in every state a row can end in: two complete, one whose solver fails, one
// stopped by SIGTERM, one that never ran, one with objects but no manifest. `doe status` reads them
// back, writes the retry file and the HTML page (opened in headless Chromium), and the retry file
// run again makes every row complete. The platform is played here: `ferry run` per row, two slots,
// each in a run directory of its own (a rehearsal writes elsewhere: it never passes for a run).
const BUCKET = bucketFor('ferry-doe-status');
const OUT = `s3://${BUCKET}/output`;
const s3 = inject('s3');
const admin = adminClient(s3);
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
const ROWS = ['ok-1', 'ok-2', 'fails', 'sigterm', 'never-run', 'no-manifest'];
const INPUT: Record<string, string> = { fails: 'fails.zip', sigterm: 'held.zip' };
const line = (row: string) => `s3://${BUCKET}/input/${INPUT[row] ?? 'good.zip'},${OUT}/${row}/`;
const csv = (rows: string[]) => `s3_input,s3_output\n${rows.map(line).join('\n')}\n`;
// Two ranks per row (the rows' MPI scale is not what this file is about; 8 per row of 2 slots would
// load a 2-core machine with 16 ranks): each complete row has 3 outputs.
const RANKS = 2;
const FILES = RANKS + 1;
const PINTLE_BYTES = [...expectedOutputs('pintle', RANKS, 4, 0).values()].reduce((n, b) => n + b.length, 0);

/** The pintle case with lines added to its inputs.in (fake-converge reads exit_code, hold_file), zipped. */
const caseZip = (extra: string) => readFileSync(zipCase('pintle', tempDir('zip'), extra));

let dir: string;
let hold: string;
let env: Record<string, string>;
let first: FerryResult[];
/** The platform running `rows`, two slots: a run dir per row under `base`, the template rendered. */
async function platform(rows: string[], base: string): Promise<FerryResult[]> {
  const limit = pLimit(2);
  return Promise.all(
    rows.map((row, i) =>
      limit(() => {
        const runDir = join(dir, base, `row-${i + 1}`);
        mkdirSync(runDir, { recursive: true });
        writeAwsConfig(runDir, s3);
        const [input, output] = line(row).split(',');
        writeFileSync(join(runDir, 'vars.txt'), `s3_input=${input}\ns3_output=${output}\n`);
        return ferry(['run', '--vars', 'vars.txt', '--aws-config', 'config', '--', 'converge'], { cwd: runDir, env });
      }),
    ),
  );
}

const status = (args: string[] = []) =>
  ferry(['doe', 'status', 'inputs.csv', '--aws-config', 'config', ...args], { cwd: dir, env });

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  dir = tempDir('doe-status');
  writeAwsConfig(dir, s3);
  hold = join(tempDir('hold'), 'hold');
  writeFileSync(hold, '');
  await putBytes(admin, BUCKET, 'input/good.zip', caseZip(''));
  await putBytes(admin, BUCKET, 'input/fails.zip', caseZip('exit_code 3\n'));
  await putBytes(admin, BUCKET, 'input/held.zip', caseZip(`hold_file ${hold}\n`));
  writeFileSync(join(dir, 'inputs.csv'), csv(ROWS));
  writeFileSync(join(dir, 'first.csv'), csv(ROWS.slice(0, 4)));
  env = cleanEnv({
    PATH: `${inject('solverDir')}:${process.env.PATH}`,
    RESCALE_CORES_PER_SLOT: String(RANKS),
    HOME: tempDir('h'),
  });

  // The first four rows; row 4 (sigterm) waits in step 1 until its ferry gets SIGTERM.
  const runs = platform(ROWS.slice(0, 4), 'job');
  const row4 = join(dir, 'job/row-4');
  const inStep1 = () =>
    existsSync(join(row4, 'ferry.log')) && readFileSync(join(row4, 'ferry.log'), 'utf8').includes('Cycle 1 of 4');
  await waitFor("row 4's solver in step 1", inStep1, { timeoutMs: 120_000 });
  process.kill(JSON.parse(readFileSync(join(row4, '.ferry-lock'), 'utf8')).pid, 'SIGTERM');
  first = await runs;
  // A row whose run died before its manifest: objects, no manifest.
  await putBytes(admin, BUCKET, 'output/no-manifest/output/rank_0.out', 'partial: the run died here\n');
});
afterAll(() => admin.destroy());

describe('ferry doe status on a DOE of 6 rows in every state', () => {
  it('the rows: 1-2 complete, row 3 exits 3, row 4 stopped by SIGTERM (143), its lease removed', async () => {
    expect(first.map((r) => r.exitCode)).toEqual([0, 0, 3, 143]);
    const keys = [...(await listAll(admin, BUCKET, 'output/sigterm/')).keys()];
    expect(keys).toContain('output/sigterm/_manifest.json');
    expect(keys).not.toContain('output/sigterm/_ferry.lease');
  });

  it('prints each row: status, exit code, files, bytes, duration, ferry version; then the counts', async () => {
    const r = await status();
    expect(r.exitCode, r.all).toBe(1);
    const m4 = JSON.parse((await getBytes(admin, BUCKET, 'output/sigterm/_manifest.json')).toString());
    const exit4 = m4.solver.signal ?? String(m4.solver.exit_code);
    // duration, attempts, ferry, then when (UTC, to the minute) and where the row ran
    const RAN = `\\s+\\d+\\.\\d s\\s+1\\s+${VERSION}\\s+20\\d\\d-\\d\\d-\\d\\dT\\d\\d:\\d\\dZ\\s+\\S+$`;
    const want: Record<string, RegExp> = {
      'ok-1': new RegExp(`^ok-1\\s+complete\\s+0\\s+${FILES}\\s+\\S+ \\S+${RAN}`),
      'ok-2': new RegExp(`^ok-2\\s+complete\\s+0\\s+${FILES}\\s+`),
      fails: new RegExp(`^fails\\s+solver-failed\\s+3\\s+${FILES}\\s+\\S+ \\S+${RAN}`),
      sigterm: new RegExp(`^sigterm\\s+incomplete\\s+${exit4}\\s+\\d\\s+\\S+ \\S+${RAN}`),
      'never-run': /^never-run\s+no-output\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-$/,
      'no-manifest': /^no-manifest\s+started\s+-\s+1\s+27 B\s+-\s+-\s+-\s+-\s+-\s+no _manifest\.json yet/,
    };
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^row\s+status\s+exit\s+files\s+bytes\s+duration\s+attempts\s+ferry\s+started\s+host\s+note$/,
    );
    ROWS.forEach((row, i) => expect(lines[i + 1]).toMatch(want[row]));
    expect(lines.at(-1)).toBe('6 row(s): 2 complete, 1 solver-failed, 1 incomplete, 1 started, 1 no-output');
  });

  it('--json: the same as JSON lines, then the counts', async () => {
    const r = await status(['--json']);
    expect(r.exitCode, r.all).toBe(1);
    const json = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json.slice(0, 6).map((j) => [j.row, j.status])).toEqual([
      ['ok-1', 'complete'],
      ['ok-2', 'complete'],
      ['fails', 'solver-failed'],
      ['sigterm', 'incomplete'],
      ['never-run', 'no-output'],
      ['no-manifest', 'started'],
    ]);
    expect(json[0]).toMatchObject({
      exit_code: 0,
      files: FILES,
      bytes: PINTLE_BYTES,
      ferry: expect.stringContaining(VERSION),
    });
    expect(json[2]).toMatchObject({ exit_code: 3, output: `${OUT}/fails/` });
    expect(json[6]).toEqual({
      type: 'counts',
      rows: 6,
      failed: 0,
      'solver-failed': 1,
      incomplete: 1,
      started: 1,
      'no-output': 1,
      complete: 2,
    });
  });

  it('--retry-csv holds exactly the 4 rows that are not complete, as inputs.csv has them', async () => {
    const r = await status(['--retry-csv', 'retry.csv']);
    expect(r.exitCode, r.all).toBe(1);
    expect(readFileSync(join(dir, 'retry.csv'), 'utf8')).toBe(csv(['fails', 'sigterm', 'never-run', 'no-manifest']));
    const same = await status(['--retry-csv', 'inputs.csv']);
    expect(same.exitCode).toBe(64);
    expect(same.stderr).toContain('would overwrite the run definition');
  });

  it('--output: one row per folder under the prefix (a row that never ran has none)', async () => {
    const r = await ferry(['doe', 'status', '--output', `${OUT}/`, '--aws-config', 'config', '--json'], {
      cwd: dir,
      env,
    });
    expect(r.exitCode, r.all).toBe(1);
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((j) => j.type === 'row');
    expect(rows.map((j) => [j.row, j.status])).toEqual([
      ['fails', 'solver-failed'],
      ['no-manifest', 'started'],
      ['ok-1', 'complete'],
      ['ok-2', 'complete'],
      ['sigterm', 'incomplete'],
    ]);
  });

  it('--html: a page with every row, the failed ones first with their log (read in headless Chromium)', async () => {
    const r = await status(['--html', 'status.html']);
    expect(r.exitCode, r.all).toBe(1);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const requests: string[] = [];
      page.on('request', (q) => requests.push(q.url()));
      const url = pathToFileURL(join(dir, 'status.html')).href;
      await page.goto(url);
      await page.screenshot({ path: join(ROOT, '.build/doe-status.png'), fullPage: true });
      expect(requests).toEqual([url]); // nothing but the page itself
      const rows = await page.$$eval('tbody tr[data-row]', (trs) =>
        trs.map((tr) => ({
          row: tr.getAttribute('data-row'),
          status: tr.getAttribute('data-status'),
          cells: [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim()),
          top: tr.getBoundingClientRect().top,
          shown: tr.getBoundingClientRect().height > 0,
        })),
      );
      expect(rows.map((x) => x.row).sort()).toEqual([...ROWS].sort());
      expect(rows.every((x) => x.shown)).toBe(true);
      expect(rows.map((x) => x.status)).toEqual([
        'solver-failed',
        'incomplete',
        'started',
        'no-output',
        'complete',
        'complete',
      ]);
      const failed = rows.filter((x) => x.status !== 'complete');
      const done = rows.filter((x) => x.status === 'complete');
      expect(Math.max(...failed.map((x) => x.top))).toBeLessThan(Math.min(...done.map((x) => x.top)));
      expect(rows[0].cells.slice(0, 3)).toEqual(['fails', 'solver-failed', '3']);
      const log = (row: string) => page.textContent(`tr[data-log-of="${row}"]`);
      expect(await log('fails')).toMatch(/ferry: solver ended after [\d.]+ s: exit code 3/);
      expect(await log('fails')).not.toContain('ferry:   uploaded'); // per-file lines left out
      expect(await log('sigterm')).toContain('received SIGTERM');
      expect(await log('never-run')).toContain('no ferry.log was uploaded');
      const tiles = await page.$$eval('.grid a', (as) => as.map((a) => [a.getAttribute('data-row'), a.className]));
      expect(tiles).toEqual(
        ROWS.map((row, i) => [row, expect.stringContaining(`s-${rows.find((x) => x.row === ROWS[i])!.status}`)]),
      );
    } finally {
      await browser.close();
    }
  });

  it('--html: what it shows from the store is masked and escaped (a log with the secret key and a tag)', async () => {
    const key = 'output/fails/_ferry.log';
    const orig = await getBytes(admin, BUCKET, key);
    const leak = `debug: key=${s3.secretKey} <script>document.title='pwned'</script>\n`;
    await putBytes(admin, BUCKET, key, Buffer.concat([orig, Buffer.from(leak)]));
    try {
      const r = await status(['--html', 'masked.html']);
      expect(r.exitCode, r.all).toBe(1);
      const html = readFileSync(join(dir, 'masked.html'), 'utf8');
      expect(html).not.toContain(s3.secretKey);
      const browser = await launchChromium();
      try {
        const page = await browser.newPage();
        await page.goto(pathToFileURL(join(dir, 'masked.html')).href);
        expect(await page.textContent('tr[data-log-of="fails"]')).toContain(
          "debug: key=*** <script>document.title='pwned'</script>",
        );
        expect(await page.$$eval('script', (els) => els.length)).toBe(0);
        expect(await page.title()).not.toBe('pwned');
      } finally {
        await browser.close();
      }
    } finally {
      await putBytes(admin, BUCKET, key, orig);
    }
  });

  it('running the retry file (the failing case fixed) makes every row complete', async () => {
    const first = await status(['--retry-csv', 'retry.csv']); // the retry file, as the job author makes it
    expect(first.exitCode, first.all).toBe(1);
    expect(readFileSync(join(dir, 'retry.csv'), 'utf8')).toBe(csv(['fails', 'sigterm', 'never-run', 'no-manifest']));
    await putBytes(admin, BUCKET, 'input/fails.zip', caseZip('')); // the job author fixed the case
    rmSync(hold); // and the row that was stopped now runs through
    const again = await platform(['fails', 'sigterm', 'never-run', 'no-manifest'], 'retry');
    for (const r of again) expect(r.exitCode, r.all).toBe(0);
    const r = await status(['--retry-csv', 'retry.csv']);
    expect(r.exitCode, r.all).toBe(0);
    for (const row of ROWS) expect(r.stdout).toMatch(new RegExp(`^${row}\\s+complete\\s+0\\s+${FILES}\\s+`, 'm'));
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('6 row(s): 6 complete');
    expect(readFileSync(join(dir, 'retry.csv'), 'utf8')).toBe('s3_input,s3_output\n');
    // and every prefix is whole for the pipeline downstream
    const v = await ferry(['verify', '--aws-config', 'config', ...ROWS.map((row) => `${OUT}/${row}/`)], {
      cwd: dir,
      env,
    });
    expect(v.exitCode, v.all).toBe(0);
    expect(v.stdout.trimEnd().split('\n')).toHaveLength(6);
  });
});
