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

interface Shared {
  s3: S3Env;
  azure: AzureEnv;
  solverDir: string;
  stop(): Promise<void>;
}

/**
 * The S3 server's start is serialised machine-wide with flock(1) on this file: `.ci/run` starts the
 * server in the background the same way while it lints and builds, and a second `start` while the
 * first is under way would wipe its data directory. The server is one per machine (port 3300).
 */
export const S3_START_LOCK = `${process.env.FERRY_S3_DIR ?? '/tmp/ferry-s3'}.start.lock`;

async function start(): Promise<Shared> {
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
  // radosgw only).
  execFileSync('flock', ['-o', S3_START_LOCK, server, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const text = execFileSync(server, ['env'], { encoding: 'utf8' });
  const vars = Object.fromEntries([...text.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1], m[2]]));
  const kind = vars.FERRY_TEST_S3_KIND;
  if (process.env.FERRY_TEST_REQUIRE_CEPH && kind !== 'ceph')
    throw new Error(
      `the S3 server is '${kind}', not Ceph RGW: the Ceph-only tests would be skipped ` +
        '(unset FERRY_TEST_S3_ENDPOINT, take minio off PATH, or stop the server on 127.0.0.1:7480)',
    );
  const azurite = await startAzurite();
  const { endpoint, account, key, connectionString } = azurite;
  return {
    s3: {
      endpoint: vars.FERRY_TEST_S3_ENDPOINT,
      accessKey: vars.FERRY_TEST_S3_ACCESS_KEY,
      secretKey: vars.FERRY_TEST_S3_SECRET_KEY,
      accessKey2: vars.FERRY_TEST_S3_ACCESS_KEY2,
      secretKey2: vars.FERRY_TEST_S3_SECRET_KEY2,
      kind,
    },
    azure: { endpoint, account, key, connectionString },
    solverDir: bin,
    async stop() {
      await azurite.stop();
      if (started && !process.env.FERRY_TEST_KEEP_SERVER) execFileSync(server, ['stop'], { stdio: 'inherit' });
    },
  };
}

/** One setup for every project that runs against the real servers (vitest calls this once per project). */
const KEY = Symbol.for('ferry.e2e.global-setup');
const slot = globalThis as unknown as Record<symbol, { users: number; ready: Promise<Shared> } | undefined>;

/**
 * Builds the MPI stand-in for CONVERGE, starts the S3 server unless one answers and Azurite (in
 * memory, on a free loopback port), and stops what it started after the last project.
 */
export default async function setup(project: TestProject) {
  const shared = (slot[KEY] ??= { users: 0, ready: start() });
  shared.users++;
  const s = await shared.ready;
  project.provide('s3', s.s3);
  project.provide('azure', s.azure);
  project.provide('solverDir', s.solverDir);
  return async () => {
    if (--shared.users > 0) return;
    slot[KEY] = undefined;
    await s.stop();
  };
}
