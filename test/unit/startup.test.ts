import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/env.ts';

// `ferry --version` / `--help` must start fast: the S3 SDK, execa and p-limit load only when a
// command needs them. Here from source; test/e2e/binary.test.ts checks the single-file build's bundle.
function modulesLoadedBy(args: string[], env: Record<string, string> = {}): string[] {
  const trace = join(mkdtempSync(join(tmpdir(), 'ferry-trace-')), 'modules.txt');
  spawnSync(
    process.execPath,
    [
      '--import',
      join(ROOT, 'test/helpers/import-trace.mjs'),
      '--import',
      join(ROOT, 'node_modules/tsx/dist/loader.mjs'),
      join(ROOT, 'agent/cli.ts'),
      ...args,
    ],
    { env: { ...process.env, ...env, FERRY_IMPORT_TRACE: trace }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return readFileSync(trace, 'utf8').split('\n').filter(Boolean);
}

// Each case starts Node with tsx (seconds on a loaded 2-core machine): a longer timeout than the unit default.
describe('start-up', { timeout: 30_000 }, () => {
  it.each(['--version', '--help', 'run --help'])('ferry %s loads no S3 or Azure SDK, execa or p-limit', (args) => {
    const loaded = modulesLoadedBy(args.split(' '));
    expect(loaded.some((u) => u.includes('/agent/cli.ts'))).toBe(true);
    const heavy = loaded.filter((u) => /node_modules\/(@aws-sdk|@smithy|@azure|execa|p-limit)\//.test(u));
    expect(heavy).toEqual([]);
  });
  it('ferry get --help is lazy too, while a real command does load the SDK (the trace sees it)', () => {
    expect(modulesLoadedBy(['get', '--help']).filter((u) => u.includes('@aws-sdk'))).toEqual([]);
    // A put that reaches its store (nobody listens at the endpoint): the SDK loads, and the trace sees it.
    const put = [
      'put',
      '--endpoint',
      'http://127.0.0.1:9',
      '--retries',
      '1',
      mkdtempSync(join(tmpdir(), 'ferry-put-')),
      's3://bucket/x/',
    ];
    const loaded = modulesLoadedBy(put);
    expect(loaded.some((u) => u.includes('@aws-sdk/client-s3'))).toBe(true);
    expect(
      loaded.filter((u) => u.includes('/@azure/')),
      'an S3 command loads no Azure SDK',
    ).toEqual([]);
  });
  it('a command on Azure loads the Azure SDK, neither the AWS one nor @azure/identity (an account key)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-put-'));
    const dead = {
      AZURE_STORAGE_CONNECTION_STRING: 'AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/acct',
    };
    const loaded = modulesLoadedBy(['put', '--retries', '1', dir, 'az://acct/data/x/'], dead);
    expect(loaded.some((u) => u.includes('@azure/storage-blob'))).toBe(true);
    expect(loaded.filter((u) => /@aws-sdk|@azure\/identity/.test(u))).toEqual([]);
  });
});
