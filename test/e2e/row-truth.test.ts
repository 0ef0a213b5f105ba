// The output prefix is the row's truth, under attack (issue 23, cases 4-8 and a live first attempt):
// a node whose clock is 20 minutes fast, a run frozen past its lease, an object that was there before,
// another row's state in the run directory, ferry killed in its wipe, a lease it may not delete, `ferry
// check` on a prefix a run holds, and the same row started while its first attempt still runs. Real
// Ceph RGW, real ferry processes (bin/ferry, or FERRY_BIN), small solvers in sh.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { tempDir, writeAwsConfig, type StartedFerry } from '../helpers/ferry.ts';
import { Ledger } from '../helpers/ledger.ts';
import { waitFor } from '../helpers/net.ts';
import { pauseAtUnlink } from '../helpers/pause-unlink.ts';
import { isWrite, startRecorder } from '../helpers/recorder.ts';
import { REC, RowAttempts, writes, type Keys } from '../helpers/row-attempts.ts';
import { adminClient, bucketFor, emptyPrefix, ensureBucket, getBytes, listAll, snapshot } from '../helpers/s3.ts';

const BUCKET = bucketFor('ferry-row-truth');
const s3 = inject('s3');
const admin = adminClient(s3);
const INPUT = `s3://${BUCKET}/in/a.txt`;
/** A small lease (renewed every 2 s): a dead holder's frees in 7 s, a waiting attempt gives up after 9 s. */
const TTL = 6;
const USER2 = 'arn:aws:iam:::user/ferry2';
const rows = new RowAttempts(s3, admin, BUCKET, TTL, INPUT);
const uri = (out: string) => rows.uri(out);
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const solverLedger = () => join(tempDir('rt-ledger'), 'ledger.tsv');

beforeAll(async () => {
  await ensureBucket(admin, BUCKET);
  await emptyPrefix(admin, BUCKET, '');
  const inputs = new Ledger(tempDir('rt-in'));
  await inputs.put(admin, BUCKET, 'in/a.txt', 'the input\n');
  await inputs.put(admin, BUCKET, 'in/b.txt', "another row's input\n");
});
afterEach(() => rows.cleanup());
afterAll(() => admin.destroy());

/** verify and doe status on the prefix: both say the row is done (whole, complete), or the test fails. */
async function expectDone(out: string, keys: Keys = s3): Promise<void> {
  const v = await rows.verify(out, keys);
  expect(v.code, v.all).toBe(0);
  const d = await rows.doeStatus(out, keys);
  expect(d.row?.status, d.all).toBe('complete');
  expect(d.code).toBe(0);
}

/** A's outputs are A's: the bytes, the manifest (its attempt only), verify and doe status. */
async function expectOnlyA(out: string, attempt: string): Promise<void> {
  const m = await rows.manifestOf(out);
  expect(m).toMatchObject({ status: 'complete', attempt });
  expect(m.attempts.map((a: { attempt: string }) => a.attempt)).toEqual([attempt]);
  expect(m.outputs.map((o: { path: string; attempt: string }) => [o.path, o.attempt])).toEqual([
    ['late.txt', attempt],
    ['out.txt', attempt],
  ]);
  expect((await getBytes(admin, BUCKET, `${out}/out.txt`)).toString()).toBe('A\n');
  expect((await getBytes(admin, BUCKET, `${out}/late.txt`)).toString()).toBe('A late\n');
  await expectDone(out);
}

/** Lets the held first attempt go on: it must complete (0). */
async function finish(a: { run: StartedFerry }, hold: string): Promise<void> {
  rmSync(hold, { force: true });
  const r = await a.run.result;
  expect(r.exitCode, r.all).toBe(0);
}

describe('4. a node whose clock is 20 minutes fast (libfaketime) cannot take a live lease', () => {
  it('another row, --take-over: 75 at once, naming A; the same row waits, 75; A completes, its own bytes', async () => {
    const hold = rows.holdFile();
    const a = await rows.startHeld('skew', hold);
    const held = await rows.leaseOf('skew');
    const another = rows.runArgs('skew', ['sh', '-c', 'echo B > out.txt'], ['--take-over'], `s3://${BUCKET}/in/b.txt`);
    const other = rows.skewed('+20m', rows.runDir('skew-b1'), another, { WHO: 'B' });
    const same = rows.skewed('+20m', rows.runDir('skew-b2'), rows.runArgs('skew', rows.heldSolver(hold)), { WHO: 'B' });
    for (const b of [await other.result, await same.result]) {
      expect(b.exitCode, b.all).toBe(75);
      expect(b.stderr).toMatch(/this node's clock is 1[12]\d\d s ahead of the server's/); // the skew is real
      expect(b.stderr).toContain(`the output prefix is being written by run ${held.run_id}`);
      expect(b.stderr).toContain(`pid ${held.pid}`);
      expect(b.stderr).toContain(`attempt ${held.attempt}`);
      expect(b.all).not.toContain('taking over');
    }
    const [b1, b2] = [await other.result, await same.result];
    expect(b1.stderr).toContain(': another row (');
    expect(b2.stderr).toContain('waiting up to');
    expect(b2.stderr).toContain('that attempt of this row still runs and renews its lease');
    expect((await rows.leaseOf('skew')).attempt).toBe(held.attempt);
    await finish(a, hold);
    await expectOnlyA('skew', held.attempt);
    const ledger = new Ledger(a.dir).fromSolver(a.ledger);
    expect(ledger.files.size).toBe(2);
    expect(await ledger.lost(admin, BUCKET, 'skew/')).toEqual([]);
  });
});

describe('5. a run that lost its lease stops writing', () => {
  it('A frozen (SIGSTOP) past its lease, B completes the row; A thawed: 75, names B, writes nothing', async () => {
    const hold = rows.holdFile();
    const front = await startRecorder(s3.endpoint); // A talks to the store through it only
    try {
      const a = await rows.startHeld('frozen', hold, rows.runDir('frozen-a', front.url));
      await waitFor("A's live upload of out.txt", async () =>
        (await listAll(admin, BUCKET, 'frozen/')).has('frozen/out.txt'),
      );
      process.kill(a.run.child.pid!, 'SIGSTOP');
      rmSync(hold); // A's solver ends meanwhile; A's ferry does not see it until it thaws
      await waitFor("A's solver to end", () => existsSync(join(a.dir, 'late.txt')));
      const dirB = rows.runDir('frozen-b');
      const ledgerB = solverLedger();
      const b = await rows.run(dirB, rows.runArgs('frozen', rows.heldSolver(hold)), { WHO: 'B', LEDGER: ledgerB });
      expect(b.exitCode, b.all).toBe(0);
      expect(b.stderr).toContain('taking over the stale lease of run');
      const mB = await rows.manifestOf('frozen');
      expect(mB.status).toBe('complete');
      const before = await snapshot(admin, BUCKET, 'frozen/');
      expect([...before.keys()].sort()).toEqual(
        ['_SUCCESS', '_ferry.log', '_manifest.json', 'late.txt', 'out.txt'].map((k) => `frozen/${k}`),
      );
      const thawed = front.mark();
      process.kill(a.run.child.pid!, 'SIGCONT');
      const ra = await a.run.result;
      expect(ra.exitCode, ra.all).toBe(75);
      expect(ra.stderr).toContain('lost the lease');
      expect(ra.stderr).toContain(mB.attempt); // who carried the row on
      expect(await snapshot(admin, BUCKET, 'frozen/')).toEqual(before);
      // What A sent after it thawed: no write but its failed try to renew the lease (a condition refused).
      const sent = front.requests.filter((q) => q.seq > thawed && isWrite(q));
      expect(sent.map((q) => [q.method, q.path.split('?')[0], q.status])).toEqual([
        ['PUT', `/${BUCKET}/frozen/_ferry.lease`, 412],
      ]);
      expect((await getBytes(admin, BUCKET, 'frozen/out.txt')).toString()).toBe('B\n');
      const ledgerA = new Ledger(a.dir).fromSolver(a.ledger); // A wiped nothing: its files are in its run dir
      expect(ledgerA.files.size).toBe(2);
      expect(await ledgerA.lost(admin, BUCKET, 'no-such-prefix/')).toEqual([]);
      const ledger = new Ledger(dirB).fromSolver(ledgerB);
      expect(await ledger.lost(admin, BUCKET, 'frozen/')).toEqual([]);
    } finally {
      await front.close();
    }
  });
});

describe("6. an object under the prefix that is not ferry's", () => {
  it('is listed in the manifest (found there, its sha256); verify says whole, doe status complete', async () => {
    const dir = rows.runDir('leftover');
    const ledgerFile = solverLedger();
    const ledger = new Ledger(dir);
    await ledger.put(admin, BUCKET, 'leftover/notes/from-before.txt', 'put here before the run\n');
    const r = await rows.run(dir, rows.runArgs('leftover', writes('out.txt')), { LEDGER: ledgerFile });
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stderr).toContain('1 object(s) under the output prefix were not written by an attempt of this row');
    const m = await rows.manifestOf('leftover');
    expect(m.status).toBe('complete');
    expect(
      m.outputs.map((o: { path: string; attempt: string; sha256: string }) => [o.path, o.attempt, o.sha256]),
    ).toEqual([
      ['notes/from-before.txt', 'found there', sha('put here before the run\n')],
      ['out.txt', m.attempt, sha('out.txt\n')],
    ]);
    expect([...(await listAll(admin, BUCKET, 'leftover/')).keys()]).toContain('leftover/_SUCCESS');
    await expectDone('leftover');
    expect(await ledger.fromSolver(ledgerFile).lost(admin, BUCKET, 'leftover/')).toEqual([]);
  });
});

describe("7. the run directory's state is bound to its row", () => {
  it('(a) another row in the same run dir: not an earlier attempt; only its own files, its own run id', async () => {
    const dir = rows.runDir('two-rows');
    const ledgerFile = solverLedger();
    const x = await rows.run(dir, rows.runArgs('row-x', writes('x.out'), ['--keep']), { LEDGER: ledgerFile });
    expect(x.exitCode, x.all).toBe(0);
    expect(existsSync(join(dir, '.ferry-state.json'))).toBe(true); // --keep: the run dir as the row left it
    const other = rows.runArgs('row-y', writes('y.out'), [], `s3://${BUCKET}/in/b.txt`);
    const y = await rows.run(dir, other, { LEDGER: ledgerFile });
    expect(y.exitCode, y.all).toBe(0);
    expect(y.stderr).toContain(".ferry-state.json here is another row's");
    expect(y.all).not.toContain('holds an earlier attempt of this row');
    expect([...(await listAll(admin, BUCKET, 'row-y/')).keys()].sort()).toEqual(
      ['_SUCCESS', '_ferry.log', '_manifest.json', 'y.out'].map((k) => `row-y/${k}`),
    );
    const [mx, my] = [await rows.manifestOf('row-x'), await rows.manifestOf('row-y')];
    expect(my.run_id).not.toBe(mx.run_id);
    expect(my.outputs.map((o: { path: string }) => o.path)).toEqual(['y.out']);
    expect(readFileSync(join(dir, 'x.out'), 'utf8')).toBe('x.out\n'); // the other row's: kept
    expect(await new Ledger(dir).fromSolver(ledgerFile).lost(admin, BUCKET, 'row-y/')).toEqual([]);
  });

  it('(b) ferry killed in its wipe (after _SUCCESS), the row run there again: 0, its dead lease gone', async () => {
    const dir = rows.runDir('killed-wipe');
    const ledgerFile = solverLedger();
    const solver = writes('aa.out', 'bb.out', 'zz.out');
    const pause = pauseAtUnlink('bb.out'); // ferry stops right before it unlinks bb.out: in its wipe
    const first = rows.launch(rows.runArgs('killed-wipe', solver), {
      cwd: dir,
      env: rows.env({ ...pause.env, LEDGER: ledgerFile }),
    });
    await waitFor('its wipe', () => existsSync(pause.reached), { alive: first.running, context: first.output });
    first.child.kill('SIGKILL');
    await first.result;
    const left = [...(await listAll(admin, BUCKET, 'killed-wipe/')).keys()];
    expect(left).toContain('killed-wipe/_SUCCESS');
    expect(left).toContain('killed-wipe/_ferry.lease'); // its lease: removed after the wipe, which never ended
    expect(existsSync(join(dir, '.ferry-state.json'))).toBe(true); // the state goes last
    const again = await rows.run(dir, rows.runArgs('killed-wipe', solver), { LEDGER: ledgerFile });
    expect(again.exitCode, again.all).toBe(0);
    expect(again.stderr).toContain("already holds this row's complete manifest");
    expect(again.stderr).toContain('removed s3://'); // the dead attempt's lease
    expect(await rows.hasLease('killed-wipe')).toBe(false);
    await expectDone('killed-wipe');
    expect(await new Ledger(dir).fromSolver(ledgerFile).lost(admin, BUCKET, 'killed-wipe/')).toEqual([]);
  });

  it('(d) an attempt killed before it journaled anything: the next takes its lease, names it in attempts', async () => {
    const dir = rows.runDir('killed-early');
    const ledgerFile = solverLedger();
    const hold = rows.holdFile();
    const started = join(tempDir('rt-started'), 'started');
    // One solver for both (the solver is part of the row): it waits while the hold file exists, then writes.
    const wait = `if [ -e ${hold} ]; then touch ${started}; while [ -e ${hold} ]; do sleep 0.1; done; fi;`;
    const solver = ['sh', '-c', `${REC} ${wait} echo done > out.txt; rec out.txt`];
    const first = rows.launch(rows.runArgs('killed-early', solver), {
      cwd: dir,
      env: rows.env({ LEDGER: ledgerFile }),
    });
    const ready = async () => existsSync(started) && (await rows.hasLease('killed-early'));
    await waitFor('the first attempt to run its solver', ready, { alive: first.running, context: first.output });
    first.child.kill('SIGKILL');
    await first.result;
    const lease = await rows.leaseOf('killed-early');
    // What this case is: the dead attempt left its lease and nothing in the journal.
    expect([...(await listAll(admin, BUCKET, 'killed-early/_ferry.journal/')).keys()]).toEqual([]);
    rmSync(hold);
    const again = await rows.run(dir, rows.runArgs('killed-early', solver), { LEDGER: ledgerFile });
    expect(again.exitCode, again.all).toBe(0);
    const m = await rows.manifestOf('killed-early');
    expect(m.attempts.map((a: { attempt: string }) => a.attempt)).toEqual([lease.attempt, m.attempt]);
    expect(m.attempts[0]).toMatchObject({ host: lease.host, started_at: lease.started_at });
    await expectDone('killed-early');
    expect(await new Ledger(dir).fromSolver(ledgerFile).lost(admin, BUCKET, 'killed-early/')).toEqual([]);
  });

  it.runIf(s3.kind === 'ceph')(
    '(c) the lease may not be deleted (a bucket policy): not 0; it says the lease stays, and what to do',
    async () => {
      const user2 = { accessKey: s3.accessKey2, secretKey: s3.secretKey2 };
      const undo = await rows.denyLeaseDelete('denied', USER2);
      try {
        const dir = rows.runDir('denied', s3.endpoint, user2);
        const ledgerFile = solverLedger();
        const r = await rows.run(dir, rows.runArgs('denied', writes('out.txt')), { LEDGER: ledgerFile });
        expect(r.exitCode, r.all).toBe(77); // not 0: the access denied
        expect(r.stderr).toContain(`could not remove the lease s3://${BUCKET}/denied/_ferry.lease`);
        expect(r.stderr).toContain('the lease stays');
        expect(await rows.hasLease('denied')).toBe(true);
        writeAwsConfig(dir, s3, user2); // the platform's retry of the row: complete, so 0; the lease still stays
        const again = await rows.run(dir, rows.runArgs('denied', writes('out.txt')), { LEDGER: ledgerFile });
        expect(again.exitCode, again.all).toBe(0);
        expect(again.stderr).toContain("already holds this row's complete manifest");
        expect(again.stderr).toContain('the lease stays');
        expect(await rows.hasLease('denied')).toBe(true);
        // complete and whole (its holder is gone); as user2: the bucket's owner may not read user2's objects
        await expectDone('denied', user2);
        const client2 = adminClient(s3, user2);
        expect(await new Ledger(dir).fromSolver(ledgerFile).lost(client2, BUCKET, 'denied/')).toEqual([]);
        client2.destroy();
      } finally {
        await undo();
      }
    },
  );
});

describe('8. ferry check fails where the run would', () => {
  it('a prefix under a live lease: 75 naming the holder; one overlapping the input: 64', async () => {
    const hold = rows.holdFile();
    const a = await rows.startHeld('checked', hold);
    const held = await rows.leaseOf('checked');
    const dir = rows.runDir('check');
    const busy = await rows.run(dir, ['check', '--aws-config', 'config', '--output', uri('checked')]);
    expect(busy.exitCode, busy.all).toBe(75);
    expect(busy.stdout).toContain(`a run holds it: run ${held.run_id}`);
    expect(busy.stdout).toContain(`pid ${held.pid}`);
    expect(busy.stdout).toContain('NOT OK (exit 75)');
    const overlap = await rows.run(dir, ['check', '--aws-config', 'config', '--input', INPUT, '--output', uri('in')]);
    expect(overlap.exitCode, overlap.all).toBe(64);
    expect(overlap.stderr).toContain('overlap');
    await finish(a, hold);
    const free = await rows.run(dir, ['check', '--aws-config', 'config', '--output', uri('checked')]);
    expect(free.exitCode, free.all).toBe(0);
    expect(free.stdout).toContain('no run holds it');
    await expectOnlyA('checked', held.attempt);
  });
});

describe('9. the same row started while its first attempt still runs', () => {
  it('waits (saying why, how long), then 75; the first keeps its lease fresh and completes unharmed', async () => {
    const hold = rows.holdFile();
    const a = await rows.startHeld('twice', hold);
    const held = await rows.leaseOf('twice');
    const etag = async () => (await snapshot(admin, BUCKET, 'twice/_ferry.lease')).get('twice/_ferry.lease');
    const before = await etag();
    const dir = rows.runDir('twice-b');
    const b = await rows.run(dir, rows.runArgs('twice', rows.heldSolver(hold)), { WHO: 'B' });
    expect(b.exitCode, b.all).toBe(75);
    expect(b.stderr).toMatch(
      /lease is held by run \S+ on .* an earlier attempt of this row: waiting up to \d+ s for it/,
    );
    expect(b.stderr).toContain(`(a lease not renewed for ${TTL} s is a dead node's)`);
    expect(b.stderr).toContain(`the output prefix is being written by run ${held.run_id}`);
    expect(b.stderr).toContain('that attempt of this row still runs and renews its lease: wait for it to end');
    expect(await etag()).not.toBe(before); // renewed meanwhile
    expect((await rows.leaseOf('twice')).attempt).toBe(held.attempt);
    expect(existsSync(join(dir, 'a.txt'))).toBe(false); // B fetched nothing
    await finish(a, hold);
    await expectOnlyA('twice', held.attempt);
    const ledger = new Ledger(a.dir).fromSolver(a.ledger);
    expect(await ledger.lost(admin, BUCKET, 'twice/')).toEqual([]);
  });
});
