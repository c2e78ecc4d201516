// The multi-host lane (npm run test:cluster): hosts in network namespaces
// that scripts/cluster/lane.sh makes, as root, before it runs this.
import { defineConfig } from "vitest/config";
import base from "../vitest.config.js";

export default defineConfig({
  test: { ...base.test, include: ["test/cluster/**/*.test.ts"], exclude: ["node_modules/**"] },
});
