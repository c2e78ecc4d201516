#!/usr/bin/env node
// `npx ruse ...`: the command-line entry (cli/main.ts); the code is TypeScript, run by tsx.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
