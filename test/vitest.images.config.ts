// The images-on-demand lane (npm run test:images): it builds images with
// mmdebstrap as the worker user, minutes of work that npm test leaves out.
import { defineConfig } from "vitest/config";
import base from "../vitest.config.js";

export default defineConfig({
  test: { ...base.test, include: ["test/images/**/*.test.ts"], exclude: ["node_modules/**"] },
});
