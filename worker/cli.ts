// `ruse sandbox`, for people and for debugging (cli/main.ts dispatches to it,
// as an unprivileged user only):
//   npx ruse sandbox --image python [--cpu-ms N] [--wall-ms N] [--memory-mb N]
//                    [--processes N] [--network] [--stdin TEXT] -- python3 -c 'print(1)'
// runs one command in a fresh sandbox of a language's image and prints the
// result (verdict, exit, usage, output) as JSON.
import { parseArgs } from "node:util";
import { loadConfig } from "../core/config.js";
import { layersFor } from "../rootfs/manifest.js";
import { getLanguage, languageEnv } from "../rootfs/languages.js";
import { Sandbox, type SandboxLimits } from "./sandbox/sandbox.js";
import { cliDefaults } from "./cli-defaults.js";

/** The sandbox command's usage, as it prints it. */
export const sandboxUsage = `usage: ruse sandbox --image LANGUAGE [--cpu-ms N] [--wall-ms N] [--memory-mb N]
                    [--processes N] [--output-kb N] [--network] [--stdin TEXT] -- COMMAND [ARGS...]`;

const parseSandboxArgs = (argv: string[]) =>
  parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      image: { type: "string" },
      "cpu-ms": { type: "string" },
      "wall-ms": { type: "string" },
      "memory-mb": { type: "string" },
      processes: { type: "string" },
      "output-kb": { type: "string" },
      network: { type: "boolean" },
      stdin: { type: "string" },
    },
  });

/** Runs `ruse sandbox ARGV...` (the arguments after "sandbox"); its exit status. */
export async function sandboxCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseSandboxArgs>;
  try {
    parsed = parseSandboxArgs(argv);
  } catch (e) {
    console.error(`${(e as Error).message}\n${sandboxUsage}`); // an unknown option is a usage error, not a crash
    return 2;
  }
  const { values, positionals } = parsed;
  const lang = values.image ? getLanguage(values.image) : undefined;
  if (!lang || positionals.length === 0) {
    console.error(values.image && !lang ? `unknown image "${values.image}"\n${sandboxUsage}` : sandboxUsage);
    return 2;
  }
  const num = (v: string | undefined, scale: number, dflt: number) => (v === undefined ? dflt : Number(v) * scale);
  const limits: SandboxLimits = {
    ...cliDefaults,
    cpuMs: num(values["cpu-ms"], 1, cliDefaults.cpuMs),
    wallMs: num(values["wall-ms"], 1, cliDefaults.wallMs),
    memoryBytes: num(values["memory-mb"], 1 << 20, cliDefaults.memoryBytes),
    processes: num(values.processes, 1, Math.max(cliDefaults.processes, lang.limits?.processes ?? 0)),
    outputBytes: num(values["output-kb"], 1024, cliDefaults.outputBytes),
  };
  const cfg = loadConfig();
  const sb = await Sandbox.create({ concurrency: 1, allowWeakSameUid: cfg.weakSameUid, cgroup: cfg.cgroup });
  try {
    const r = await sb.run({
      layers: layersFor(lang.id),
      argv: positionals,
      env: languageEnv(lang),
      stdin: values.stdin,
      limits,
      network: values.network,
    });
    const { stdout, stderr, collected, ...rest } = r;
    console.log(JSON.stringify({ ...rest, stdout: stdout.toString(), stderr: stderr.toString() }, null, 2));
    return r.verdict === "internal_error" ? 1 : 0;
  } finally {
    await sb.close();
  }
}
