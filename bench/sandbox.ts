// Per-run cost of the sandbox: /bin/true and python3 -c pass, bare, in ruse
// (namespaces, per-slot uid, cgroup, seccomp, squashfs image) and in
// bubblewrap (`bwrap --unshare-all` with read-only binds of the host: no
// cgroup, no seccomp, no image), all spawned from Node the same way. Ruse
// twice: once with time before it (its sandbox prepared, as a playground's
// runs come), once right after the other (set-up on its path again).
import { spawn } from "node:child_process";
import { catalogueLayers, layersFor } from "../rootfs/manifest.js";
import { languageEnv, getLanguage } from "../rootfs/languages.js";
import { Sandbox } from "../worker/sandbox/sandbox.js";
import { cliDefaults } from "../worker/cli-defaults.js";
import { compare, printTable, ratio } from "./stats.js";

function exec(argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
    c.on("error", reject);
    c.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(" ")} exited ${code}`))));
  });
}

const BWRAP = [
  "bwrap",
  "--unshare-all",
  "--die-with-parent",
  "--ro-bind",
  "/usr",
  "/usr",
  "--ro-bind",
  "/lib",
  "/lib",
  "--ro-bind",
  "/lib64",
  "/lib64",
  "--ro-bind",
  "/bin",
  "/bin",
  "--proc",
  "/proc",
  "--dev",
  "/dev",
  "--tmpfs",
  "/tmp",
];

export async function benchSandbox(rounds: number): Promise<void> {
  const sb = await Sandbox.create({ concurrency: 1, images: catalogueLayers() }); // as the service's
  console.log(`# sandbox: ${sb.describe()}`);
  const python = getLanguage("python")!;
  const inRuse = async (image: string, argv: string[]) => {
    const r = await sb.run({
      layers: layersFor(image),
      argv,
      env: languageEnv(getLanguage(image)!),
      limits: cliDefaults,
    });
    if (r.verdict !== "ok") throw new Error(`ruse ${argv.join(" ")}: ${r.verdict} ${r.error ?? r.stderr}`);
  };
  try {
    for (const [title, argv, image] of [
      ["/bin/true", ["/bin/true"], "bash"],
      ["python3 -c pass", ["/usr/bin/python3", "-c", "pass"], python.id],
    ] as const) {
      const t = await compare(
        [
          { name: "bare", run: () => exec([...argv]) },
          // After the bare run: its sandbox has had time to be prepared.
          { name: "ruse", run: () => inRuse(image, [...argv]) },
          // Right after the one before: its sandbox is still being prepared.
          { name: "ruse, back to back", run: () => inRuse(image, [...argv]) },
          { name: "bwrap --unshare-all", run: () => exec([...BWRAP, ...argv]) },
        ],
        rounds,
      );
      printTable(`sandbox: ${title} (${rounds} rounds)`, t, "bare");
      console.log(`ruse / bwrap: ${ratio(t, "ruse", "bwrap --unshare-all").toFixed(2)} (below 1: ruse is faster)`);
    }
  } finally {
    await sb.close();
  }
}
