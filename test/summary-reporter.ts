// Ends `npm test` with one plain line, "N passed, N failed, N skipped", that
// any CI reader understands whatever the runner.
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  private line = "";

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules)
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === "passed") passed++;
        else if (s === "failed") failed++;
        else skipped++;
      }
    // A module that failed to load has no tests but must still count.
    failed += modules.filter((m) => m.state() === "failed" && [...m.children.allTests()].length === 0).length;
    this.line = `${passed} passed, ${failed} failed, ${skipped} skipped`;
  }

  // Printed at exit so that it is the last line, after the default summary.
  onInit(): void {
    process.on("exit", () => this.line && console.log(`\n${this.line}`));
  }
}
