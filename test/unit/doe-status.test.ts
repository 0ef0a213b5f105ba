import { describe, expect, it } from 'vitest';
import { formatCsv, parseCsv } from '../../agent/csv.ts';
import { escapeHtml, failedFirst, htmlReport } from '../../agent/doe/html.ts';
import { TAIL_BYTES, TAIL_LINES } from '../../agent/doe/log-tail.ts';
import { readRows } from '../../agent/doe/read-rows.ts';
import { countsLine, jsonReport, textReport } from '../../agent/doe/report.ts';
import { retryRows } from '../../agent/doe/retry.ts';
import { rowNames, rowsFromCsv, rowsUnder } from '../../agent/doe/rows.ts';
import { readRow, type Row } from '../../agent/doe/status.ts';
import { parseUri } from '../../agent/location.ts';
import { MemoryStore, manifestFor } from '../helpers/memory-store.ts';

const call = { phase: 'download' as const };
const row = (name: string): Row => ({ name, output: parseUri(`s3://bkt/out/${name}/`, 'test') });
const NOW = Date.parse('2026-11-26T12:00:00Z');
const lease = (host: string, at: Date) =>
  JSON.stringify({ run_id: 'x', host, pid: 42, ferry: 'ferry 0.1.0', heartbeat_at: at.toISOString() });

/** One prefix per status, as ferry run leaves them (and as a run that died leaves them). */
function doe(): MemoryStore {
  const s = new MemoryStore();
  s.now = () => NOW; // the store's clock: a lease is dated by it
  s.put('out/ok/a.out', 'aaaa');
  s.put('out/ok/_manifest.json', manifestFor({ 'a.out': 'aaaa' }, { seconds: 125 }));
  s.put('out/ok/_SUCCESS', '');
  s.put('out/fails/a.out', 'bb');
  s.put('out/fails/_manifest.json', manifestFor({ 'a.out': 'bb' }, { status: 'solver-failed', exit: 3 }));
  s.put('out/fails/_ferry.log', 'ferry: launching\nfake-converge: done, exit code 3\n');
  s.put('out/killed/_manifest.json', manifestFor({}, { status: 'incomplete', exit: null, signal: 'SIGTERM' }));
  s.put('out/nomanifest/output/rank_0.out', 'partial');
  s.put('out/running/_ferry.lease', lease('node7', new Date(NOW - 20_000)), new Date(NOW - 20_000));
  s.put('out/dead/x.out', '1');
  s.put('out/dead/_ferry.lease', lease('node9', new Date(NOW - 3_600_000)), new Date(NOW - 3_600_000));
  s.put('out/nosuccess/_manifest.json', manifestFor({}));
  s.put('out/broken/_manifest.json', '<html>not json');
  return s;
}

describe('doe status: one row read back from its output prefix', () => {
  const read = (name: string, o = {}) => readRow(doe(), row(name), call, { now: NOW, ...o });

  it('complete: the manifest says so, _SUCCESS is there; files, bytes, duration, exit, ferry from it', async () => {
    expect(await read('ok')).toMatchObject({
      status: 'complete',
      exitCode: 0,
      signal: null,
      files: 1,
      bytes: 4,
      seconds: 125,
      ferry: 'ferry 0.1.0 (abc, node 20.20.2)',
      note: undefined,
    });
  });
  it.each([
    ['fails', { status: 'solver-failed', exitCode: 3 }],
    ['killed', { status: 'incomplete', exitCode: null, signal: 'SIGTERM', files: 0 }],
    ['nomanifest', { status: 'started', files: 1, bytes: 7, note: expect.stringContaining('no _manifest.json yet') }],
    ['running', { status: 'started', files: 0, note: 'a run holds the lease (node7 pid 42, renewed 20 s ago)' }],
    [
      'dead',
      {
        status: 'started',
        files: 1,
        note: expect.stringMatching(/not renewed for 60 min.*a later attempt of the row takes it/),
      },
    ],
    ['never', { status: 'no-output', exitCode: null, signal: null }],
    ['nosuccess', { status: 'incomplete', note: expect.stringContaining('there is no _SUCCESS') }],
    [
      'broken',
      { status: 'incomplete', note: '_manifest.json: not a ferry manifest, or a corrupt one: it is not JSON' },
    ],
  ])('%s → %o', async (name, want) => {
    expect(await read(name)).toMatchObject(want);
  });
  it('a lease over a manifest: a re-run is under way, the status is from an earlier attempt', async () => {
    const s = doe();
    s.put('out/fails/_ferry.lease', lease('node3', new Date(NOW - 5000)), new Date(NOW - 5000));
    const r = await readRow(s, row('fails'), call, { now: NOW });
    expect(r.status).toBe('solver-failed');
    expect(r.note).toBe(
      'a run holds the lease (node3 pid 42, renewed 5 s ago): this status is from an earlier attempt',
    );
  });
  it('reads the last lines of the uploaded ferry.log of a row that is not complete, only when asked', async () => {
    expect((await read('fails')).logTail).toBeUndefined();
    expect((await read('fails', { logTail: true })).logTail).toEqual([
      'ferry: launching',
      'fake-converge: done, exit code 3',
    ]);
    expect((await read('killed', { logTail: true })).logTail).toBeUndefined(); // none uploaded
  });
  it('a long log: one ranged read of its end, the cut line dropped, the last lines kept', async () => {
    const s = doe();
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    const text = `${lines.join('\n')}\n`;
    s.put('out/fails/_ferry.log', text);
    s.calls = [];
    const tail = (await readRow(s, row('fails'), call, { logTail: true })).logTail!;
    expect(tail).toEqual(lines.slice(-TAIL_LINES));
    const reads = s.calls.filter((c) => c.startsWith('read'));
    expect(reads).toEqual([`read out/fails/_ferry.log ${text.length - TAIL_BYTES}-${text.length}`]);
  });
});

describe('doe status: every row', () => {
  it('reads rows side by side, never more than --concurrency at once, in the order given', async () => {
    const s = new MemoryStore();
    const rows = Array.from({ length: 40 }, (_, i) => row(`r${i}`));
    for (const r of rows) s.put(`${r.output.key}_manifest.json`, manifestFor({}));
    const states = await readRows(async () => s, rows, { concurrency: 4 });
    expect(states.map((x) => x.row.name)).toEqual(rows.map((r) => r.name));
    // each row reads its manifest, _SUCCESS and lease side by side: 4 rows → 12 requests at most
    expect(s.maxInFlight).toBe(12);
  });
  it('stops at the first failure and throws it (not the others’ AbortErrors)', async () => {
    const s = new MemoryStore();
    s.list = async () => {
      throw new Error('denied');
    };
    const rows = Array.from({ length: 10 }, (_, i) => row(`r${i}`));
    await expect(readRows(async () => s, rows, { concurrency: 3 })).rejects.toThrow('denied');
  });
  it('names rows by what differs between their outputs', () => {
    const u = (t: string) => parseUri(t, 't');
    expect(rowNames([u('s3://bkt/output/hsdi/'), u('s3://bkt/output/pintle/')])).toEqual(['hsdi', 'pintle']);
    expect(rowNames([u('s3://bkt/output/hsdi/')])).toEqual(['hsdi']);
    expect(rowNames([u('s3://bkt/o/x/1/'), u('s3://bkt/o/y/1/')])).toEqual(['x/1', 'y/1']);
    expect(rowNames([u('s3://bkt/o/a/'), u('s3://ckt/o/a/')])).toEqual(['bkt/o/a', 'ckt/o/a']);
  });
  it('--output: the folders directly under the prefix, with or without the store’s folder listing', async () => {
    const s = doe();
    const prefix = parseUri('s3://bkt/out/', 't');
    const names = ['broken', 'dead', 'fails', 'killed', 'nomanifest', 'nosuccess', 'ok', 'running'];
    expect((await rowsUnder(s, prefix, call)).map((r) => r.name)).toEqual(names);
    const withFolders = Object.assign(s, {
      folders: async () => names.map((n) => `out/${n}/`),
    });
    s.calls = [];
    expect((await rowsUnder(withFolders, prefix, call)).map((r) => r.output.key)).toEqual(
      names.map((n) => `out/${n}/`),
    );
    expect(s.calls).toEqual([]); // nothing listed whole
  });
});

describe('doe status: what it writes', () => {
  const states = async () => {
    const csv =
      's3_input,s3_output,note\n' +
      ['ok', 'fails', 'killed', 'never', 'nomanifest']
        .map((n) => `s3://bkt/in/${n}.zip,s3://bkt/out/${n}/,"a, b"`)
        .join('\n');
    const rows = rowsFromCsv(csv, 'inputs.csv');
    return readRows(async () => doe(), rows, { concurrency: 2, logTail: true });
  };

  it('a line per row and the counts; JSON lines with the same', async () => {
    const s = await states();
    const text = textReport(s);
    expect(text.split('\n')[0]).toMatch(
      /^row\s+status\s+exit\s+files\s+bytes\s+duration\s+attempts\s+ferry\s+started\s+host\s+note$/,
    );
    expect(text).toMatch(/^ok\s+complete\s+0\s+1\s+4 B\s+2 min 5 s\s+-\s+0\.1\.0\s+\S+\s+\S+$/m);
    expect(text).toMatch(/^fails\s+solver-failed\s+3\s+1\s+2 B\s+12\.0 s\s+-\s+0\.1\.0\s+\S+\s+\S+$/m);
    expect(text).toMatch(/^killed\s+incomplete\s+SIGTERM\s+0\s+0 B\s+/m);
    expect(text).toMatch(/^never\s+no-output\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-$/m);
    expect(text.trimEnd().split('\n').at(-1)).toBe(
      '5 row(s): 1 complete, 1 solver-failed, 1 incomplete, 1 started, 1 no-output',
    );
    const json = jsonReport(s)
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(json[1]).toMatchObject({ type: 'row', row: 'fails', status: 'solver-failed', exit_code: 3, bytes: 2 });
    expect(json.at(-1)).toEqual({
      type: 'counts',
      rows: 5,
      complete: 1,
      failed: 0,
      'solver-failed': 1,
      incomplete: 1,
      started: 1,
      'no-output': 1,
    });
  });
  it('the retry file: the rows that are not complete, every column as it was, read back the same', async () => {
    const s = await states();
    const text = formatCsv(['s3_input', 's3_output', 'note'], retryRows(s));
    expect(text.split('\n')[1]).toBe('s3://bkt/in/fails.zip,s3://bkt/out/fails/,"a, b"');
    expect(parseCsv(text, 'retry.csv').map((r) => r.s3_output)).toEqual([
      's3://bkt/out/fails/',
      's3://bkt/out/killed/',
      's3://bkt/out/never/',
      's3://bkt/out/nomanifest/',
    ]);
    const odd = { s3_input: 'say "hi"', s3_output: 'spaced ,\tcomma' };
    expect(parseCsv(formatCsv(['s3_input', 's3_output'], [odd]), 'x')).toEqual([odd]);
    expect(countsLine([])).toBe('0 row(s): none');
  });
  it('the page: failed rows first with their log, everything escaped, nothing fetched from anywhere', async () => {
    const s = await states();
    s[1].logTail = ['<script>alert(1)</script> & "quotes"'];
    s[2].progress = '12:00:00 ferry: solver running 2h 5m; 3 file(s) <1 MiB> uploaded';
    const html = htmlReport(s, { source: 'inputs.csv', ferry: 'ferry 0.1.0', at: new Date(NOW) });
    // A running row's last heartbeat shows above its log, and in its tile's title.
    expect(html).toContain(
      '<p class="progress" data-progress>running, from the log it uploaded last: ' +
        '12:00:00 ferry: solver running 2h 5m; 3 file(s) &lt;1 MiB&gt; uploaded</p>',
    );
    expect(html).toMatch(/title="[^"]+; 12:00:00 ferry: solver running 2h 5m/);
    const order = [...html.matchAll(/<tr id="row-\d+" data-row="([^"]+)" data-status="([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['fails', 'killed', 'nomanifest', 'never', 'ok']);
    expect(failedFirst(s).map((x) => x.status)).toEqual([
      'solver-failed',
      'incomplete',
      'started',
      'no-output',
      'complete',
    ]);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;');
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(|https?:\/\//i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'"`);
    expect(escapeHtml(`<a href='x'>`)).toBe('&lt;a href=&#39;x&#39;&gt;');
  });
});

describe('the log tail of a run with many outputs', () => {
  it("skips ferry's per-file lines, reading further back for the lines that say how the run ended", async () => {
    const s = doe();
    const head = Array.from({ length: 40 }, (_, i) => `Cycle ${i} of 40`);
    const files = Array.from({ length: 3000 }, (_, i) => `ferry:   uploaded out/f${i}.dat (1000 bytes), verified`);
    const end = 'ferry: solver ended after 3.0 s: exit code 3';
    const text = `${[...head, end, ...files, 'ferry: wrote it'].join('\n')}\n`;
    s.put('out/fails/_ferry.log', text);
    s.calls = [];
    const tail = (await readRow(s, row('fails'), call, { logTail: true })).logTail!;
    expect(tail).toEqual([...head.slice(-23), end, 'ferry: wrote it']);
    expect(s.calls.filter((c) => c.startsWith('read')).length).toBeGreaterThan(1);
  });
});
