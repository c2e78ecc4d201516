// Languages whose program is read by an interpreter or a JIT at run time
// (TypeScript is type-checked by tsc first, then run by Node).
import type { Language } from "../languages.js";

const src = String.raw;

/** Node's globals, declared for tsc: Debian ships no @types/node, and tsc refuses `require` without it. */
const NODE_GLOBALS =
  "declare var require: any, process: any, module: any, exports: any, Buffer: any, __dirname: string, __filename: string;";

export const scripted: readonly Language[] = [
  {
    id: "bash",
    name: "Bash",
    sourceFile: "main.sh",
    run: ["bash", "main.sh"],
    env: {},
    versionCommand: ["bash", "--version"],
    examples: {
      hello: 'echo "hello, world"\n',
      sum: "read a b\necho $((a + b))\n",
      crash: {
        source: 'set -u\necho "$undefined_variable"\n',
        exitCode: 1,
        message: /undefined_variable: unbound variable/,
      },
      spin: "while :; do :; done\n",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's own ${#s}
      memory: 's=$(head -c 33554432 /dev/zero | tr "\\0" x)\n[ ${#s} -eq 33554432 ] && echo ok\n',
    },
  },
  {
    id: "python",
    name: "Python 3 (NumPy, pytest)",
    layer: "python-libs",
    sourceFile: "main.py",
    run: ["python3", "main.py"],
    // The image is read-only and its modules are byte-compiled at build time;
    // do not litter /box with __pycache__ for the user's own modules either.
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    versionCommand: ["python3", "--version"],
    examples: {
      hello: 'print("hello, world")\n',
      sum: "a, b = map(int, input().split())\nprint(a + b)\n",
      crash: { source: 'raise ValueError("boom")\n', exitCode: 1, message: /ValueError: boom/ },
      spin: "while True:\n    pass\n",
      memory: 'b = b"x" * (32 << 20)\nprint("ok" if b[-1:] == b"x" else "bad")\n',
    },
  },
  {
    id: "javascript",
    name: "JavaScript (Node.js)",
    layer: "javascript",
    sourceFile: "main.js",
    run: ["node", "main.js"],
    env: {},
    versionCommand: ["node", "--version"],
    limits: {
      processes: 32, // node starts libuv's thread pool (4) plus V8 platform/GC threads
      memoryMbExtra: 64, // V8 and libuv baseline resident memory over the program's own
    },
    examples: {
      hello: 'console.log("hello, world");\n',
      sum: 'const [a, b] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(BigInt);\nconsole.log(String(a + b));\n',
      crash: { source: 'throw new Error("boom");\n', exitCode: 1, message: /Error: boom/ },
      spin: "for (;;) {}\n",
      memory: 'const b = Buffer.alloc(32 << 20, 1);\nconsole.log(b[b.length - 1] === 1 ? "ok" : "bad");\n',
    },
  },
  {
    id: "typescript",
    name: "TypeScript (tsc, Node.js)",
    layer: "typescript",
    sourceFile: "main.ts",
    // A declaration file is not a non-declaration input: tsc's rootDir stays /box and main.js lands beside main.ts.
    compile: [
      "sh",
      "-c",
      `echo '${NODE_GLOBALS}' > /tmp/node-globals.d.ts && exec tsc --strict --target es2020 --module commonjs --outDir /box /tmp/node-globals.d.ts main.ts`,
    ],
    run: ["node", "main.js"],
    env: {},
    versionCommand: ["tsc", "--version"],
    limits: {
      processes: 32, // as javascript
      memoryMbExtra: 64,
      compileSeconds: 30, // tsc loads ~10 MB of JavaScript on a Node without a start-up snapshot
    },
    examples: {
      hello: 'const greeting: string = "hello, world";\nconsole.log(greeting);\n',
      sum: 'const [a, b]: bigint[] = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/).map(BigInt);\nconsole.log(String(a + b));\n',
      broken: { source: 'const x: number = "s";\n', message: /main\.ts\(1,7\): error TS2322/ },
      crash: { source: 'throw new Error("boom");\n', exitCode: 1, message: /Error: boom/ },
      spin: "for (;;) {}\n",
      memory: 'const b = Buffer.alloc(32 << 20, 1);\nconsole.log(b[b.length - 1] === 1 ? "ok" : "bad");\n',
    },
  },
  {
    id: "ruby",
    name: "Ruby",
    layer: "ruby",
    sourceFile: "main.rb",
    run: ["ruby", "main.rb"],
    env: {},
    versionCommand: ["ruby", "--version"],
    examples: {
      hello: 'puts "hello, world"\n',
      sum: "a, b = STDIN.read.split.map(&:to_i)\nputs a + b\n",
      crash: { source: 'raise "boom"\n', exitCode: 1, message: /boom \(RuntimeError\)/ },
      spin: "loop {}\n",
      memory: 's = "x" * (32 << 20)\nputs(s[-1] == "x" ? "ok" : "bad")\n',
    },
  },
  {
    id: "php",
    name: "PHP",
    layer: "php",
    sourceFile: "main.php",
    run: ["php", "main.php"],
    env: {},
    versionCommand: ["php", "--version"],
    examples: {
      hello: '<?php\necho "hello, world\\n";\n',
      sum: src`<?php
[$a, $b] = array_map('intval', preg_split('/\s+/', trim(stream_get_contents(STDIN))));
echo $a + $b, "\n";
`,
      crash: { source: '<?php\nthrow new Exception("boom");\n', exitCode: 255, message: /Uncaught Exception: boom/ },
      spin: "<?php\nwhile (true) {}\n",
      memory: src`<?php
$s = str_repeat("x", 32 << 20);
echo $s[-1] === "x" ? "ok\n" : "bad\n";
`,
    },
  },
  {
    id: "perl",
    name: "Perl",
    layer: "perl",
    sourceFile: "main.pl",
    run: ["perl", "main.pl"],
    env: {},
    versionCommand: ["perl", "--version"],
    examples: {
      hello: 'print "hello, world\\n";\n',
      sum: 'my ($x, $y) = split " ", <STDIN>;\nprint $x + $y, "\\n";\n',
      crash: { source: 'die "boom\\n";\n', exitCode: 255, message: /boom/ },
      spin: "1 while 1;\n",
      memory: 'my $s = "x" x (32 << 20);\nprint substr($s, -1) eq "x" ? "ok\\n" : "bad\\n";\n',
    },
  },
  {
    id: "lua",
    name: "Lua",
    layer: "lua",
    sourceFile: "main.lua",
    run: ["lua5.4", "main.lua"],
    env: {},
    versionCommand: ["lua5.4", "-v"],
    examples: {
      hello: 'print("hello, world")\n',
      sum: 'local a, b = io.read("n", "n")\nprint(a + b)\n',
      crash: { source: 'error("boom")\n', exitCode: 1, message: /main\.lua:1: boom/ },
      spin: "while true do end\n",
      memory: 'local s = string.rep("x", 32 << 20)\nprint(s:sub(-1) == "x" and "ok" or "bad")\n',
    },
  },
  {
    id: "tcl",
    name: "Tcl",
    layer: "tcl",
    sourceFile: "main.tcl",
    run: ["tclsh", "main.tcl"],
    env: {},
    versionCommand: ["sh", "-c", "echo 'puts [info patchlevel]' | tclsh"],
    examples: {
      hello: 'puts "hello, world"\n',
      sum: "lassign [gets stdin] a b\nputs [expr {$a + $b}]\n",
      crash: { source: 'error "boom"\n', exitCode: 1, message: /boom/ },
      spin: "while 1 {}\n",
      memory: 'set s [string repeat x [expr {32 << 20}]]\nputs [expr {[string index $s end] eq "x" ? "ok" : "bad"}]\n',
    },
  },
  {
    id: "r",
    name: "R",
    layer: "r",
    sourceFile: "main.r",
    run: ["Rscript", "main.r"],
    env: {},
    versionCommand: ["Rscript", "--version"],
    limits: { memoryMbExtra: 64 }, // R's base packages loaded at start
    examples: {
      hello: 'cat("hello, world\\n")\n',
      sum: 'x <- scan(file("stdin"), what = numeric(), quiet = TRUE)\ncat(format(x[1] + x[2], scientific = FALSE), "\\n", sep = "")\n',
      crash: { source: 'stop("boom")\n', exitCode: 1, message: /Error: boom/ },
      spin: "repeat {}\n",
      memory: 'x <- rep(1L, 8 * 1024 * 1024)\ncat(if (x[length(x)] == 1L) "ok" else "bad", "\\n", sep = "")\n',
    },
  },
  {
    id: "octave",
    name: "GNU Octave",
    layer: "octave",
    sourceFile: "main.m",
    run: ["octave-cli", "--no-gui", "--norc", "--quiet", "--no-history", "main.m"],
    env: {},
    versionCommand: ["octave-cli", "--version"],
    limits: {
      processes: 32, // BLAS and the interpreter's threads
      memoryMbExtra: 128, // the interpreter and its libraries are ~100 MB resident
      startupMs: 2000, // loading the interpreter: ~0.5-1 s of CPU
    },
    examples: {
      hello: 'disp("hello, world")\n',
      sum: 'x = scanf("%f");\nprintf("%d\\n", x(1) + x(2));\n', // %d would read int32s
      crash: { source: 'error("boom");\n', exitCode: 1, message: /error: boom/ },
      spin: "while true\nend\n",
      memory: 'x = ones(4 * 1024 * 1024, 1);\nif x(end) == 1\n  disp("ok")\nend\n',
    },
  },
  {
    id: "erlang",
    name: "Erlang (escript)",
    layer: "erlang",
    sourceFile: "main.erl",
    // As Piston's: an escript, whose first line escript always skips (#!/usr/bin/env escript).
    run: ["escript", "main.erl"],
    env: {},
    versionCommand: ["sh", "-c", "cat /usr/lib/erlang/releases/*/OTP_VERSION"],
    limits: {
      processes: 64, // the BEAM's schedulers, dirty schedulers and async threads
      startupMs: 1000, // booting the BEAM and compiling the escript
    },
    examples: {
      hello: '#!/usr/bin/env escript\nmain(_) -> io:format("hello, world~n").\n',
      sum: '#!/usr/bin/env escript\nmain(_) ->\n    {ok, [A, B]} = io:fread("", "~d ~d"),\n    io:format("~w~n", [A + B]).\n',
      crash: { source: "#!/usr/bin/env escript\nmain(_) -> erlang:error(boom).\n", exitCode: 127, message: /boom/ },
      spin: "#!/usr/bin/env escript\nmain(_) -> loop(0).\nloop(N) -> loop((N + 1) rem 7).\n",
      memory:
        '#!/usr/bin/env escript\nmain(_) ->\n    B = binary:copy(<<1>>, 32 * 1024 * 1024),\n    io:format("~s~n", [case binary:last(B) of 1 -> "ok"; _ -> "bad" end]).\n',
    },
  },
  {
    id: "elixir",
    name: "Elixir",
    layer: "elixir",
    sourceFile: "main.exs",
    run: ["elixir", "main.exs"],
    env: {},
    versionCommand: ["sh", "-c", "elixir --version | grep Elixir"],
    limits: {
      processes: 64, // as erlang
      startupMs: 2000, // booting the BEAM and Elixir's code server
    },
    examples: {
      hello: 'IO.puts("hello, world")\n',
      sum: "[a, b] = IO.read(:stdio, :eof) |> String.split() |> Enum.map(&String.to_integer/1)\nIO.puts(a + b)\n",
      crash: { source: 'raise "boom"\n', exitCode: 1, message: /\(RuntimeError\) boom/ },
      spin: "defmodule Spin do\n  def loop(n), do: loop(rem(n + 1, 7))\nend\n\nSpin.loop(0)\n",
      memory: 'b = :binary.copy(<<1>>, 32 * 1024 * 1024)\nIO.puts(if :binary.last(b) == 1, do: "ok", else: "bad")\n',
    },
  },
  {
    id: "racket",
    name: "Racket",
    layer: "racket",
    sourceFile: "main.rkt",
    run: ["racket", "main.rkt"],
    env: {},
    versionCommand: ["racket", "--version"],
    limits: { memoryMbExtra: 64 }, // Chez Scheme's runtime and the expander
    examples: {
      hello: '#lang racket/base\n(displayln "hello, world")\n',
      sum: "#lang racket/base\n(define a (read))\n(define b (read))\n(displayln (+ a b))\n",
      crash: { source: '#lang racket/base\n(error "boom")\n', exitCode: 1, message: /boom/ },
      spin: "#lang racket/base\n(let loop () (loop))\n",
      memory:
        '#lang racket/base\n(define b (make-bytes (* 32 1024 1024) 1))\n(displayln (if (= 1 (bytes-ref b (sub1 (bytes-length b)))) "ok" "bad"))\n',
    },
  },
  {
    id: "scheme",
    name: "Scheme (GNU Guile)",
    layer: "scheme",
    sourceFile: "main.scm",
    // No auto-compile: it would write .go files under ~/.cache for every program.
    run: ["guile", "--no-auto-compile", "-s", "main.scm"],
    env: {},
    versionCommand: ["guile", "--version"],
    limits: { processes: 16 }, // the Boehm GC's marker threads
    examples: {
      hello: '(display "hello, world")\n(newline)\n',
      sum: "(let* ((a (read)) (b (read)))\n  (display (+ a b))\n  (newline))\n",
      crash: { source: '(error "boom")\n', exitCode: 1, message: /boom/ },
      spin: "(let loop () (loop))\n",
      memory:
        '(use-modules (rnrs bytevectors))\n(define b (make-bytevector (* 32 1024 1024) 1))\n(display (if (= 1 (bytevector-u8-ref b (- (bytevector-length b) 1))) "ok" "bad"))\n(newline)\n',
    },
  },
  {
    id: "commonlisp",
    name: "Common Lisp (SBCL)",
    layer: "commonlisp",
    sourceFile: "main.lisp",
    run: ["sbcl", "--script", "main.lisp"],
    env: {},
    versionCommand: ["sbcl", "--version"],
    examples: {
      hello: '(format t "hello, world~%")\n',
      sum: '(let ((a (read)) (b (read)))\n  (format t "~d~%" (+ a b)))\n',
      crash: { source: '(error "boom")\n', exitCode: 1, message: /boom/ },
      spin: "(loop)\n",
      memory:
        '(let ((b (make-array (* 32 1024 1024) :element-type \'(unsigned-byte 8) :initial-element 1)))\n  (format t "~a~%" (if (= 1 (aref b (1- (length b)))) "ok" "bad")))\n',
    },
  },
  {
    id: "prolog",
    name: "Prolog (SWI-Prolog)",
    layer: "prolog",
    sourceFile: "main.pl",
    run: ["swipl", "main.pl"],
    env: {},
    versionCommand: ["swipl", "--version"],
    examples: {
      hello: ":- initialization(main, main).\n\nmain :- writeln('hello, world').\n",
      sum: ':- initialization(main, main).\n\nmain :-\n    read_line_to_string(user_input, S),\n    split_string(S, " ", " ", Parts),\n    exclude(==(""), Parts, [A, B]),\n    number_string(X, A),\n    number_string(Y, B),\n    Z is X + Y,\n    writeln(Z).\n',
      crash: {
        source: ":- initialization(main, main).\n\nmain :- X is 1 / 0, writeln(X).\n",
        exitCode: 2,
        message: /zero_divisor|divi/,
      },
      spin: ":- initialization(main, main).\n\nmain :- repeat, fail.\n",
      memory:
        ":- initialization(main, main).\n\nmain :- numlist(1, 2000000, L), sum_list(L, S), ( S > 0 -> writeln(ok) ; writeln(bad) ).\n",
    },
  },
  {
    id: "sqlite",
    name: "SQL (SQLite)",
    layer: "sqlite",
    sourceFile: "main.sql",
    // An empty in-memory database; the program's dot-commands work (.import /dev/stdin reads the test's input).
    run: ["sqlite3", "-batch", "-bail", ":memory:", ".read main.sql"],
    env: {},
    versionCommand: ["sqlite3", "--version"],
    examples: {
      hello: "SELECT 'hello, world';\n",
      sum: 'CREATE TABLE input(a INTEGER, b INTEGER);\n.separator " "\n.import /dev/stdin input\nSELECT a + b FROM input;\n',
      crash: { source: "SELECT abs(-9223372036854775808);\n", exitCode: 1, message: /integer overflow/ },
      spin: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c;\n",
      memory: "SELECT CASE WHEN length(randomblob(33554432)) = 33554432 THEN 'ok' END;\n",
    },
  },
  {
    id: "awk",
    name: "AWK (GNU Awk)",
    layer: "awk",
    sourceFile: "main.awk",
    run: ["gawk", "-f", "main.awk"],
    env: {},
    versionCommand: ["gawk", "--version"],
    examples: {
      hello: 'BEGIN { print "hello, world" }\n',
      sum: "{ print $1 + $2 }\n",
      crash: { source: "BEGIN { x = 0; print 1 / x }\n", exitCode: 2, message: /division by zero/ },
      spin: "BEGIN { while (1) {} }\n",
      memory: 'BEGIN { s = sprintf("%33554432s", ""); print (length(s) == 33554432 ? "ok" : "bad") }\n',
    },
  },
];
