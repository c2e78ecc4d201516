// `ruse languages`: the server's languages (GET /v1/languages) as a table.
import { parseArgs } from "node:util";
import { RuseClient } from "./client.js";
import { UsageError } from "./run.js";

/** `ruse languages [--url URL] [--key KEY]`: id, name, version, ready; the exit status. */
export async function languagesCommand(argv: string[]): Promise<number | "help"> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: "string" }, key: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return "help";
  if (positionals.length) throw new UsageError(`ruse languages takes no arguments (got "${positionals[0]}")`);
  const langs = await new RuseClient({ url: values.url, key: values.key }).languages();
  const rows = [
    ["ID", "NAME", "VERSION", "READY"],
    ...langs.map((l) => [l.id, l.name, l.version ?? "-", l.ready ? "yes" : "no"]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    process.stdout.write(
      `${r
        .map((v, c) => v.padEnd(widths[c]!))
        .join("  ")
        .trimEnd()}\n`,
    );
  return 0;
}
