import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Browser and stack tests bind real ports and start Chromium; two cores, so keep the fan-out modest.
    maxWorkers: 2,
    // Tests run on the machine's Node 20; the Lambdas run Node 24, where this SDK notice does not apply.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
