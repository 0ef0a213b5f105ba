import { defineConfig } from 'vitest/config';
import { NEEDS } from './test/helpers/needs.ts';

// The SDK's notice about Node 20 says nothing about ferry; keep test output readable.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// Two projects: unit tests need nothing; the end-to-end suite starts a real S3 server (Ceph RGW
// or MinIO, or uses FERRY_TEST_S3_ENDPOINT), builds the MPI fixture solver, and runs bin/ferry
// (or FERRY_BIN) as a user would. Tests that may skip carry a tag from NEEDS saying why.
export default defineConfig({
  test: {
    tags: NEEDS,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 240_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
