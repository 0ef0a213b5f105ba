import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadNative } from '../../agent/native/index.ts';
import { adminContainer, azureConfigText, freshContainer, getBlob } from '../helpers/azure.ts';
import { ROOT } from '../helpers/env.ts';
import { tempDir, writeAwsConfig, zipCase } from '../helpers/ferry.ts';
import { lostFiles } from '../helpers/ledger.ts';
import { servePac, type PacServer } from '../helpers/pac-server.ts';
import { ARM64_BIN, HAS_QEMU_ARM64, arm64Env, elfMachine, ferryArm64 } from '../helpers/qemu.ts';
import { adminClient, emptyPrefix, ensureBucket, getBytes, listAll, putBytes } from '../helpers/s3.ts';
import { startSquidWith, type Squid } from '../helpers/squid.ts';

// The linux-arm64 executable does what the x64 one does, shown under qemu-user on this x86-64 machine:
// the S3 SDK and the Azure SDK loaded lazily, the zip inflate workers, PAC evaluation in node:vm, the
// native addon from its SEA asset; and without leave it refuses to start on an x86-64 processor.
const BUCKET = 'ferry-arm64';
const s3 = inject('s3');
const az = inject('azure');
const admin = adminClient(s3);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const SEA_NODE = /^SEA_NODE_VERSION=(\S+)/m.exec(readFileSync(join(ROOT, 'scripts/build'), 'utf8'))![1];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** 2,000 small entries, as Info-ZIP makes them: the inflate workers take every one. */
function manyEntries(): { zip: Buffer; files: Map<string, string> } {
  const dir = tempDir('arm64-many');
  const files = new Map<string, string>();
  for (let i = 0; i < 2000; i++) {
    const rel = `d${i % 20}/entry_${i}.txt`;
    files.set(rel, `entry ${i} `.repeat(40 + (i % 97)) + '\n');
  }
  for (const [rel, text] of files) {
    mkdirSync(join(dir, dirname(rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  const zip = join(tempDir('arm64-zip'), 'many.zip');
  execFileSync('zip', ['-qr', '-X', zip, '.'], { cwd: dir });
  return { zip: readFileSync(zip), files };
}

/** A zip whose second entry climbs out of the target (Python's zipfile writes the name as given). */
function slipZip(): Buffer {
  const out = join(tempDir('arm64-slip'), 'slip.zip');
  const py = 'import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1],"w")\nz.writestr("ok.txt","fine")\n';
  execFileSync('python3', ['-c', `${py}z.writestr("../canary/pwned.txt","x")\nz.close()`, out]);
  return readFileSync(out);
}

describe.runIf(ARM64_BIN !== undefined && HAS_QEMU_ARM64)(
  'the linux-arm64 executable (FERRY_ARM64_BIN) under qemu-user',
  { tags: ['arm64', 'qemu'] },
  () => {
    const bin = ARM64_BIN!;
    let config: string;
    let many: ReturnType<typeof manyEntries>;
    beforeAll(async () => {
      await ensureBucket(admin, BUCKET);
      await emptyPrefix(admin, BUCKET, '');
      many = manyEntries();
      await putBytes(admin, BUCKET, 'in/pintle.zip', readFileSync(zipCase('pintle', tempDir('zips'))));
      await putBytes(admin, BUCKET, 'in/many.zip', many.zip);
      await putBytes(admin, BUCKET, 'in/slip.zip', slipZip());
      await putBytes(admin, BUCKET, 'in/mesh.dat', 'mesh bytes\n');
      config = writeAwsConfig(tempDir('arm64-cfg'), s3);
    });
    afterAll(() => admin.destroy());

    it(`is an aarch64 ELF beside its .sha256, and --version names the pinned Node (${SEA_NODE})`, async () => {
      expect(basename(bin)).toBe(`ferry-${pkg.version}-linux-arm64`);
      expect(elfMachine(bin)).toBe(183);
      expect(
        execFileSync('sha256sum', ['-c', `${basename(bin)}.sha256`], { cwd: dirname(bin), encoding: 'utf8' }),
      ).toContain(': OK');
      const r = await ferryArm64(['--version'], { cwd: '/' });
      expect(r.exitCode, r.all).toBe(0);
      const v = pkg.version.replace(/\./g, '\\.');
      expect(r.stdout).toMatch(
        new RegExp(`^ferry ${v} \\([0-9a-f]{12}(-dirty)?, node ${SEA_NODE.replace(/\./g, '\\.')}\\)$`),
      );
      expect(r.stderr).toBe(''); // no "Code cache data rejected" (the blob is made by the arm64 Node itself)
    });

    it('refuses to start on this x86-64 processor unless FERRY_ALLOW_EMULATION=1: 64, names the x64 file', async () => {
      const dir = tempDir('arm64-refused');
      const env = arm64Env();
      delete env.FERRY_ALLOW_EMULATION;
      const r = await ferryArm64(['get', '--aws-config', config, `s3://${BUCKET}/in/mesh.dat`, 'out'], {
        cwd: dir,
        env,
      });
      expect(r.exitCode, r.all).toBe(64);
      expect(r.stderr).toContain(`this is ferry-${pkg.version}-linux-arm64, for Arm 64-bit (aarch64) processors`);
      expect(r.stderr).toContain(`hint: upload ferry-${pkg.version}-linux-x64 for nodes like this one`);
      expect(readdirSync(dir)).toEqual([]); // nothing was fetched
    });

    it('ferry run --no-mpi: a whole row, outputs byte-identical, the run dir wiped as accounted', async () => {
      const dir = tempDir('arm64-row');
      copyFileSync(bin, join(dir, 'ferry'));
      chmodSync(join(dir, 'ferry'), 0o755);
      writeAwsConfig(dir, s3);
      writeFileSync(join(dir, 'notes.txt'), 'mine, not the run\n'); // there before ferry: stays
      const big = join(tempDir('arm64-big'), 'big.bin');
      writeFileSync(big, randomBytes(12 * 1024 * 1024 + 5)); // over --part-size: an upload in parts
      const solver = 'mkdir -p res && cat inputs.in spray.in > res/joined.txt && cp "$BIG" res/big.bin';
      const args = ['run', '--aws-config', 'config', '--input', `s3://${BUCKET}/in/pintle.zip`];
      args.push('--output', `s3://${BUCKET}/row/`, '--no-mpi', '--', 'sh', '-c', solver);
      const r = await ferryArm64(args, { cwd: dir, env: arm64Env({ BIG: big }), bin: './ferry' });
      expect(r.exitCode, r.all).toBe(0);
      const pintle = join(ROOT, 'fixtures/cases/pintle');
      const want = new Map([
        [
          'res/joined.txt',
          Buffer.concat([readFileSync(join(pintle, 'inputs.in')), readFileSync(join(pintle, 'spray.in'))]),
        ],
        ['res/big.bin', readFileSync(big)],
      ]);
      const keys = [...(await listAll(admin, BUCKET, 'row/')).keys()].sort();
      expect(keys).toEqual([
        'row/_SUCCESS',
        'row/_ferry.log',
        'row/_manifest.json',
        'row/res/big.bin',
        'row/res/joined.txt',
      ]);
      for (const [rel, bytes] of want)
        expect((await getBytes(admin, BUCKET, `row/${rel}`)).equals(bytes), rel).toBe(true);
      const m = JSON.parse((await getBytes(admin, BUCKET, 'row/_manifest.json')).toString());
      expect(m.status).toBe('complete');
      for (const o of m.outputs) expect(o.sha256, o.path).toBe(sha(want.get(o.path)!));
      // Gone: the extracted inputs, the outputs, config and ferry itself; kept: the file that was there.
      expect(readdirSync(dir).sort()).toEqual(['ferry.log', 'notes.txt']);
      const ledger = new Map([...want].map(([rel, b]) => [rel, sha(b)]));
      ledger.set('notes.txt', sha(Buffer.from('mine, not the run\n')));
      expect(await lostFiles(ledger, dir, admin, BUCKET, 'row/')).toEqual([]);
    });

    it('a hostile zip (an entry escaping the target) is refused with 65, nothing outside', async () => {
      const root = tempDir('arm64-hostile');
      mkdirSync(join(root, 'canary'));
      const r = await ferryArm64(['get', '--aws-config', config, `s3://${BUCKET}/in/slip.zip`, join(root, 'target')]);
      expect(r.exitCode, r.all).toBe(65);
      expect(r.stderr).toContain('../canary/pwned.txt');
      expect(readdirSync(join(root, 'canary'))).toEqual([]);
    });

    it('ferry get of a 2,000-entry zip (the inflate workers): every entry, byte for byte', async () => {
      const target = join(tempDir('arm64-get'), 'case');
      const r = await ferryArm64(['get', '--aws-config', config, `s3://${BUCKET}/in/many.zip`, target]);
      expect(r.exitCode, r.all).toBe(0);
      const got = readdirSync(target, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.txt'));
      expect(got).toHaveLength(2000);
      for (const [rel, text] of many.files) expect(readFileSync(join(target, rel), 'utf8'), rel).toBe(text);
    });

    describe('through a PAC file that sends the S3 host to an authenticating squid', () => {
      let squid: Squid;
      let pac: PacServer;
      beforeAll(async () => {
        squid = await startSquidWith({ scheme: 'basic', user: 'arm', password: 'arm pw' });
        const port = new URL(s3.endpoint).port;
        pac = await servePac(
          'function FindProxyForURL(url, host) {\n' +
            `  if (isInNet(host, "127.0.0.0", "255.0.0.0") && shExpMatch(url, "http://*:${port}/*"))\n` +
            `    return "PROXY 127.0.0.1:${squid.port}";\n  return "DIRECT";\n}\n`,
        );
      });
      afterAll(async () => {
        await squid?.stop();
        await pac?.close();
      });

      it('ferry get --proxy-pac URL: squid logs the request with the account, the bytes arrive', async () => {
        const dir = tempDir('arm64-pac');
        writeFileSync(join(dir, 'proxy-auth'), 'arm:arm pw\n', { mode: 0o600 });
        const before = squid.accessLog().length;
        const args = ['get', '--aws-config', config, '--proxy-pac', pac.url, '--proxy-auth-file', 'proxy-auth'];
        const r = await ferryArm64([...args, `s3://${BUCKET}/in/mesh.dat`, 'out'], { cwd: dir });
        expect(r.exitCode, r.all).toBe(0);
        expect(readFileSync(join(dir, 'out/mesh.dat'), 'utf8')).toBe('mesh bytes\n');
        expect(pac.hits()).toBe(1);
        expect(squid.accessLog().slice(before)).toMatch(
          new RegExp(`GET http://127\\.0\\.0\\.1:\\d+/${BUCKET}/in/mesh\\.dat\\S* arm `),
        );
      });
    });

    it('Azure Blob: ferry put DIR az://… in blocks, and ferry get of the prefix back, byte for byte', async () => {
      const container = 'ferry-arm64';
      const c = adminContainer(az, container);
      await freshContainer(az, container);
      const dir = tempDir('arm64-az');
      writeFileSync(join(dir, 'azure'), azureConfigText(az));
      mkdirSync(join(dir, 'up/sub'), { recursive: true });
      const body = randomBytes(11 * 1024 * 1024 + 3); // three blocks of --part-size 5MiB
      writeFileSync(join(dir, 'up/sub/blocks.bin'), body);
      const uri = `az://${az.account}/${container}`;
      const put = await ferryArm64(['put', '--azure-config', 'azure', '--part-size', '5MiB', 'up', `${uri}/out/`], {
        cwd: dir,
      });
      expect(put.exitCode, put.all).toBe(0);
      expect((await getBlob(c, 'out/sub/blocks.bin')).equals(body)).toBe(true);
      const get = await ferryArm64(['get', '--azure-config', 'azure', `${uri}/out/`, 'down'], { cwd: dir });
      expect(get.exitCode, get.all).toBe(0);
      expect(readFileSync(join(dir, 'down/sub/blocks.bin')).equals(body)).toBe(true);
    });

    it('ferry check: the native addon loads from the executable, with the functions of the x64 build', async () => {
      const r = await ferryArm64(['check', '--aws-config', config, '--output', `s3://${BUCKET}/check/`]);
      expect(r.exitCode, r.all).toBe(0);
      const source = loadNative();
      if (!source.ok) throw new Error(source.why);
      const names = Object.keys(source.native).sort().join(', ');
      expect(r.stdout).toContain(
        `node         x86-64 processor; ferry for linux-arm64 under an emulator (FERRY_ALLOW_EMULATION=1); ` +
          `native addon loaded (${names})`,
      );
    });
  },
);
