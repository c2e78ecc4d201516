import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Building images on demand takes minutes: its own lane (npm run test:images); the
    // cluster's hosts need network namespaces made as root: its own lane (npm run test:cluster).
    exclude: ["test/images/**", "test/cluster/**", "node_modules/**"],
    // The suites run as the unprivileged worker user, who cannot write into a
    // root-owned checkout: keep vitest's cache out of node_modules.
    cache: false,
    testTimeout: 60_000,
    hookTimeout: 600_000,
    // Sandbox tests measure CPU time; two busy files at once on 2 cores would
    // make the accounting tests noisy, so files run one at a time.
    fileParallelism: false,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
