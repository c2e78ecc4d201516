// The image mounts: kernel squashfs (loop, mounted once by the privileged
// set-up) against squashfuse_ll (FUSE, mounted by the worker user itself),
// for python3 -c pass and a g++ hello world, with the host's own Python as
// the floor. Same sandbox, same layers, only the mount differs.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { layersFor } from "../rootfs/manifest.js";
import { mountFuse, unmountFuse } from "../rootfs/mounts.js";
import { getLanguage, languageEnv } from "../rootfs/languages.js";
import { Sandbox } from "../worker/sandbox/sandbox.js";
import { cliDefaults } from "../worker/cli-defaults.js";
import { compare, printTable, ratio } from "./stats.js";

const HELLO_CPP = '#include <iostream>\nint main(){std::cout<<"hello\\n";}\n';

function exec(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
    c.on("error", reject);
    c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${argv[0]} exited ${code}`))));
  });
}

export async function benchImages(rounds: number): Promise<void> {
  const fuseRoot = mkdtempSync(join(tmpdir(), "ruse-fuse-"));
  mountFuse(fuseRoot);
  const sb = await Sandbox.create({ concurrency: 1 });
  const run = async (
    lang: string,
    mountRoot: string | undefined,
    argv: string[],
    files = [] as { path: string; content: string }[],
  ) => {
    const r = await sb.run({
      layers: layersFor(lang, mountRoot),
      argv,
      env: languageEnv(getLanguage(lang)!),
      files,
      limits: cliDefaults,
    });
    if (r.verdict !== "ok") throw new Error(`${argv.join(" ")}: ${r.verdict} ${r.error ?? r.stderr}`);
  };
  try {
    const py = ["python3", "-c", "pass"];
    const t = await compare(
      [
        { name: "host python3 (floor)", run: () => exec(["/usr/bin/python3", "-c", "pass"]) },
        { name: "ruse, kernel squashfs", run: () => run("python", undefined, py) },
        { name: "ruse, squashfuse_ll", run: () => run("python", fuseRoot, py) },
      ],
      rounds,
    );
    printTable(`images: python3 -c pass (${rounds} rounds)`, t, "host python3 (floor)");
    console.log(`squashfuse / kernel squashfs: ${ratio(t, "ruse, squashfuse_ll", "ruse, kernel squashfs").toFixed(2)}`);

    const gpp = ["g++", "-o", "hello", "hello.cpp"];
    const files = [{ path: "hello.cpp", content: HELLO_CPP }];
    const c = await compare(
      [
        { name: "ruse, kernel squashfs", run: () => run("cpp", undefined, gpp, files) },
        { name: "ruse, squashfuse_ll", run: () => run("cpp", fuseRoot, gpp, files) },
      ],
      Math.max(5, Math.floor(rounds / 10)),
      2,
    );
    printTable("images: g++ hello world", c, "ruse, kernel squashfs");
  } finally {
    await sb.close();
    unmountFuse(fuseRoot);
  }
}
