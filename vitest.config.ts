import { defineConfig } from 'vitest/config';

/** Suites that measure latency or push load; they run after the rest, one file at a time. */
const SOAK = ['test/reliability/chaos.test.ts', 'test/reliability/flood.test.ts', 'e2e/**/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 240_000,
    // Node 20 is supported here; the SDK's notice about its 2027 releases is noise in test output.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    // The chaos suite turns on DEBUG for the per-send fan-out line it times; printed, it drowns the rest.
    onConsoleLog: (log) => !log.includes('"message":"fanout"'),
    projects: [
      {
        extends: true,
        test: {
          name: 'suites',
          include: ['test/**/*.test.{ts,tsx}'],
          exclude: SOAK,
          // 2 cores, and DynamoDB Local is shared: more workers only add contention.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'soak',
          include: SOAK,
          // Alone on the machine, so a latency comparison measures Parley rather than its neighbours.
          fileParallelism: false,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
