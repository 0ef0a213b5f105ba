import { defineConfig } from 'vitest/config';
import { NEEDS } from './test/helpers/needs.ts';

// The SDK's notice about Node 20 says nothing about ferry; keep test output readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/**
 * End-to-end files that must run alone: vitest runs them one after another once every other file
 * has finished. Every other file under test/e2e/ runs in parallel with the rest on the one S3
 * server, which is safe because each file keeps to its own bucket or container, temp dirs, run marks
 * and ports (test/helpers/: tempDir, freePort/serveOnFreePort). A new file joins the parallel group
 * by default. Name it here only when it cannot share the machine: it stops a server others use
 * (faults.test.ts stops radosgw), or it judges silence by the clock (--timeout 1-2 s stalls, which a
 * loaded machine could produce by itself).
 */
export const EXCLUSIVE = ['test/e2e/faults.test.ts', 'test/e2e/stalls.test.ts', 'test/e2e/azure-stalls.test.ts'];

// Every test asserts at least once: one that returns early is a failure, not a silent pass.
const common = { expect: { requireAssertions: true } };
// Real servers, Open MPI and squid: test/e2e/global-setup.ts starts what is missing, once for all.
const real = { ...common, globalSetup: ['test/e2e/global-setup.ts'], testTimeout: 240_000, hookTimeout: 240_000 };

// Projects: `unit` needs nothing; `smoke` runs bin/ferry from source (Node 20, tsx) through a few
// whole commands; `e2e` and `e2e-serial` run ferry as a user would: bin/ferry, or FERRY_BIN
// (`npm test` builds and sets it: the suite checks the single executable users run). Tests that may
// skip carry a tag from NEEDS saying why (scripts/test-report.ts prints them).
export default defineConfig({
  test: {
    tags: NEEDS,
    // Files of unit, smoke and e2e at once: most e2e time is waiting on servers and solvers.
    maxWorkers: 4,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], ...common } },
      { test: { name: 'smoke', include: ['test/smoke/**/*.test.ts'], ...real } },
      { test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], exclude: EXCLUSIVE, ...real } },
      { test: { name: 'e2e-serial', include: EXCLUSIVE, fileParallelism: false, ...real } },
    ],
  },
});
