// Bundles the playground (app.ts and what it imports, CodeMirror included)
// into dist/, which api/playground/routes.ts serves: one script, the page
// and its style, nothing from elsewhere. scripts/setup.sh runs this when
// dist/ is missing or older than a source here.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");

const out = await build({
  entryPoints: [path.join(here, "app.ts")],
  outfile: path.join(dist, "playground.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  write: false,
  logLevel: "warning",
});
mkdirSync(dist, { recursive: true });
for (const f of ["index.html", "style.css"]) copyFileSync(path.join(here, f), path.join(dist, f));
// The bundle last: setup.sh compares the sources with its time, so a build cut short is made again.
for (const f of out.outputFiles) writeFileSync(f.path, f.contents);
const kib = Math.round(out.outputFiles.reduce((n, f) => n + f.contents.length, 0) / 1024);
console.log(`playground: bundled ${kib} KiB into ${path.relative(process.cwd(), dist) || dist}`);
