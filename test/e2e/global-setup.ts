import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startAzurite, type AzureEnv } from '../helpers/azurite.ts';
import { ROOT, type S3Env } from '../helpers/env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3Env;
    azure: AzureEnv;
    solverDir: string;
  }
}

/**
 * Builds the MPI stand-in for CONVERGE, starts the S3 server unless one answers and Azurite (in
 * memory, on a free loopback port), stops what it started.
 */
export default async function setup(project: TestProject) {
  const server = join(ROOT, 'scripts/s3-server');
  const bin = join(ROOT, '.build/bin');
  mkdirSync(bin, { recursive: true });
  execFileSync('mpicc', ['-O2', '-o', join(bin, 'converge'), join(ROOT, 'fixtures/solver/fake-converge.c')], {
    stdio: 'inherit',
  });

  let started = false;
  try {
    execFileSync(server, ['status'], { stdio: 'ignore' });
  } catch {
    started = true;
  }
  // `start` also reuses a server that answers, and gives an older Ceph server STS (restarting
  // radosgw only): the e2e lock is held, so no other engineer's test is cut.
  execFileSync(server, ['start'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const text = execFileSync(server, ['env'], { encoding: 'utf8' });
  const vars = Object.fromEntries([...text.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  project.provide('s3', {
    endpoint: vars.FERRY_TEST_S3_ENDPOINT,
    accessKey: vars.FERRY_TEST_S3_ACCESS_KEY,
    secretKey: vars.FERRY_TEST_S3_SECRET_KEY,
    accessKey2: vars.FERRY_TEST_S3_ACCESS_KEY2,
    secretKey2: vars.FERRY_TEST_S3_SECRET_KEY2,
    kind: vars.FERRY_TEST_S3_KIND,
  });
  project.provide('solverDir', bin);
  const azurite = await startAzurite();
  const { endpoint, account, key, connectionString } = azurite;
  project.provide('azure', { endpoint, account, key, connectionString });
  return async () => {
    await azurite.stop();
    if (started && !process.env.FERRY_TEST_KEEP_SERVER) execFileSync(server, ['stop'], { stdio: 'inherit' });
  };
}
