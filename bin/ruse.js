#!/usr/bin/env node
// `npx ruse ...`: the command-line entry; the code is TypeScript, run by tsx.
import { register } from "tsx/esm/api";

register();
await import("../worker/cli.ts");
