// The command line (`npx ruse ...`, bin/ruse.js): `run`, `judge` and
// `languages` are clients of a ruse server over HTTP (cli/client.ts);
// `sandbox` runs one command in a local sandbox (worker/cli.ts), as an
// unprivileged user only. main() returns the exit status; the usage text
// (README: Command line) lists every exit status, as cli/run.ts's EXIT does.
import { ApiError, InvalidUrl, Unreachable } from "./client.js";
import { languagesCommand } from "./languages.js";
import { EXIT, judgeCommand, runCommand, UsageError } from "./run.js";

export const usage = `usage: ruse COMMAND [OPTIONS]

  ruse run FILE... [--language ID] [--stdin FILE] [--test IN OUT]... [--args ARGS...]
      Run a program on a ruse server and print its stdout (on stdout), its
      stderr, or the compiler's on a compile error (on stderr), then a verdict
      line on stderr: "ruse: ok (cpu 12 ms, wall 30 ms, memory 8192 KB)".
      --language ID   the language (ruse languages lists them); default: the
                      one whose source file has the first FILE's extension
      --stdin FILE    the program's input; - reads this command's own stdin
      --test IN OUT   judge the output of input file IN against answer file OUT
                      (repeatable); a line per test, "test 1: accepted", then
                      the run's verdict
      --args ARGS...  every argument after --args is the program's
      One FILE is the program's source. With several, each is sent under its
      base name, the first is the main one, and the language's source file
      (main.py, main.c, Main.java: its sourceFile) must be among them.

  ruse judge FILE... --tests DIR [--language ID] [--args ARGS...]
      Judge a program on the tests of DIR: pairs NAME.in and NAME.out (or
      NAME.ans), in the natural order of NAME (2 before 10), sent as one run.
      Prints a line per test (its verdict and usage), then "ruse: accepted 9/10".

  ruse languages
      The server's languages: id, name, version, ready (built on the server).

  Every client command takes
      --url URL       the server; default $RUSE_URL, else http://127.0.0.1:3000
      --key KEY       its API key, sent as Authorization: Bearer KEY;
                      default $RUSE_API_KEY

  ruse sandbox --image LANGUAGE [--cpu-ms N] [--wall-ms N] [--memory-mb N]
               [--processes N] [--output-kb N] [--network] [--stdin TEXT] -- COMMAND [ARGS...]
      Run one command in a local sandbox of a language's image and print the
      result as JSON: on a worker machine, as the unprivileged worker user
      (bash scripts/as-worker.sh bin/ruse.js sandbox ...), never as root.

Exit status of run and judge:
  0  ok, or every test accepted
  1  the program failed: wrong_answer, runtime_error, skipped
  2  usage or request error: bad arguments or files, the server refused the
     request (400 invalid, 401 API key, 413 too large, 429 rate limit or full
     queue ...) or cannot be reached
  3  compile_error
  4  time_limit_exceeded, memory_limit_exceeded or output_limit_exceeded
  5  internal_error, or the server failed (5xx)
With tests the run's verdict is its first failed test's.`;

const say = (line: string) => process.stderr.write(`${line}\n`);

function printUsage(): number {
  say(usage);
  return EXIT.usage;
}

/** `ruse ARGV...` (process.argv without node and the script): the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === "sandbox") {
    if (process.getuid?.() === 0) {
      say("ruse runs as an unprivileged user, never root: `bash scripts/as-worker.sh bin/ruse.js ...`");
      return EXIT.usage;
    }
    // Loaded only here: the client commands need none of the sandbox's code.
    const { sandboxCommand } = await import("../worker/cli.js");
    return sandboxCommand(rest);
  }
  const commands: Record<string, (argv: string[]) => Promise<number | "help">> = {
    run: runCommand,
    judge: judgeCommand,
    languages: languagesCommand,
  };
  const command = cmd === undefined ? undefined : commands[cmd];
  if (!command) {
    if (cmd !== undefined && !["help", "--help", "-h"].includes(cmd)) say(`ruse: unknown command "${cmd}"`);
    return printUsage();
  }
  try {
    const status = await command(rest);
    return status === "help" ? printUsage() : status;
  } catch (e) {
    if (e instanceof ApiError) {
      const hint =
        e.status === 401
          ? " (give the key with --key or RUSE_API_KEY)"
          : e.status === 429 && !e.retryAfter
            ? " (try again later)"
            : "";
      say(`ruse: ${e.message}${hint}`);
      return e.status >= 500 ? EXIT.internal : EXIT.usage;
    }
    if (e instanceof UsageError || e instanceof InvalidUrl || e instanceof Unreachable) {
      say(`ruse: ${e.message}`);
      return EXIT.usage;
    }
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      say(`ruse: ${(e as Error).message} (ruse help)`);
      return EXIT.usage;
    }
    throw e;
  }
}
