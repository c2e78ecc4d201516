// Languages compiled to native code ahead of the run. Each compile writes its
// binary to /box/main (the tmpfs the run sees); the `memory` examples fill
// their buffer from argc or through volatile writes so that the optimiser
// cannot drop the allocation.
import type { Language } from "../languages.js";

const src = String.raw;

export const native: readonly Language[] = [
  {
    id: "c",
    name: "C (GCC)",
    layer: "gcc",
    sourceFile: "main.c",
    compile: ["gcc", "-O2", "-std=gnu17", "-pipe", "-o", "main", "main.c", "-lm"],
    run: ["./main"],
    env: {},
    versionCommand: ["gcc", "--version"],
    limits: {
      processes: 16, // the gcc driver runs cc1, as and collect2/ld as child processes
    },
    examples: {
      hello: src`#include <stdio.h>
int main(void) { puts("hello, world"); return 0; }
`,
      sum: src`#include <stdio.h>
int main(void) { long long a, b; if (scanf("%lld %lld", &a, &b) != 2) return 1; printf("%lld\n", a + b); return 0; }
`,
      broken: { source: "int main(void) { return 0 }\n", message: /main\.c:1:\d+: error: expected [‘']?;/ },
      crash: { source: "int main(void) { volatile int *p = 0; return *p; }\n", signal: "SIGSEGV" },
      spin: "int main(void) { for (volatile unsigned long i = 0;; i++) {} }\n",
      memory: src`#include <stdio.h>
#include <stdlib.h>
int main(void) {
  size_t n = 32u << 20;
  volatile char *p = malloc(n);
  for (size_t i = 0; i < n; i += 4096) p[i] = 1;
  puts(p[n - 4096] == 1 ? "ok" : "bad");
  return 0;
}
`,
    },
  },
  {
    id: "cpp",
    name: "C++ (G++)",
    layer: "gcc",
    sourceFile: "main.cpp",
    compile: ["g++", "-O2", "-std=gnu++17", "-pipe", "-o", "main", "main.cpp"],
    run: ["./main"],
    env: {},
    versionCommand: ["g++", "--version"],
    limits: {
      processes: 16, // the g++ driver runs cc1plus, as and collect2/ld as child processes
      compileSeconds: 30, // heavy template code (<bits/stdc++.h>) takes seconds to compile
    },
    examples: {
      hello: src`#include <iostream>
int main() { std::cout << "hello, world" << std::endl; }
`,
      sum: src`#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\n'; }
`,
      broken: {
        source: '#include <string>\nint main() { int x = std::string("s"); }\n',
        message: /main\.cpp:2:\d+: error: cannot convert/,
      },
      crash: {
        source: '#include <stdexcept>\nint main() { throw std::runtime_error("boom"); }\n',
        signal: "SIGABRT",
        message: /what\(\): +boom/,
      },
      spin: "int main() { for (volatile unsigned long i = 0;; i++) {} }\n",
      memory: src`#include <iostream>
#include <vector>
int main(int argc, char **) {
  std::vector<char> v(32u << 20, static_cast<char>(argc));
  long pages = 0;
  for (size_t i = 0; i < v.size(); i += 4096) pages += v[i];
  std::cout << (pages == static_cast<long>(v.size() / 4096) * argc ? "ok" : "bad") << std::endl;
}
`,
    },
  },
  {
    id: "go",
    name: "Go",
    layer: "go",
    sourceFile: "main.go",
    compile: ["go", "build", "-o", "main", "main.go"],
    run: ["./main"],
    env: {
      GOCACHE: "/tmp/gocache", // the build cache must be writable: it lives on the tmpfs
      GOPATH: "/tmp/go",
      GOPROXY: "off", // no network in the sandbox: fail fast instead of timing out
      CGO_ENABLED: "0", // no C compiler in the go layer; static pure-Go binaries
    },
    versionCommand: ["go", "version"],
    limits: {
      processes: 64, // the go tool runs compile/asm/link in parallel, each with GOMAXPROCS threads
      memoryMbExtra: 128, // compiling even hello world without a warm cache builds runtime packages
      compileSeconds: 60, // a cold GOCACHE (fresh tmpfs each run) means the std packages get compiled
    },
    examples: {
      hello: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello, world") }\n',
      sum: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int64\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n',
      broken: {
        source: "package main\n\nfunc main() {\n\tx := 1\n}\n",
        message: /main\.go:4:\d+: .*declared (and|but) not used/,
      },
      crash: { source: 'package main\n\nfunc main() { panic("boom") }\n', exitCode: 2, message: /panic: boom/ },
      spin: "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n",
      memory:
        'package main\n\nimport "fmt"\n\nfunc main() {\n\tb := make([]byte, 32<<20)\n\tfor i := range b {\n\t\tb[i] = 1\n\t}\n\tif b[len(b)-1] == 1 {\n\t\tfmt.Println("ok")\n\t}\n}\n',
    },
  },
  {
    id: "rust",
    name: "Rust",
    layer: "rust",
    sourceFile: "main.rs",
    compile: ["rustc", "-O", "--edition", "2021", "-C", "debuginfo=0", "-o", "main", "main.rs"],
    run: ["./main"],
    env: { CARGO_HOME: "/tmp/cargo" },
    versionCommand: ["rustc", "--version"],
    limits: {
      processes: 32, // rustc uses codegen threads and runs cc/ld for linking
      memoryMbExtra: 256, // LLVM optimisation at -O needs a few hundred MB
      compileSeconds: 30, // rustc -O is slow even on small programs
    },
    examples: {
      hello: 'fn main() { println!("hello, world"); }\n',
      sum: 'use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect(); println!("{}", v[0] + v[1]); }\n',
      broken: { source: 'fn main() { let x: i32 = "s"; }\n', message: /error\[E0308\]: mismatched types/ },
      crash: { source: 'fn main() { panic!("boom"); }\n', exitCode: 101, message: /panicked at 'boom'/ },
      spin: "fn main() { loop {} }\n",
      memory:
        'fn main() { let v = vec![1u8; 32 << 20]; let last = unsafe { std::ptr::read_volatile(&v[v.len() - 1]) }; println!("{}", if last == 1 { "ok" } else { "bad" }); }\n',
    },
  },
  {
    id: "haskell",
    name: "Haskell (GHC)",
    layer: "haskell",
    sourceFile: "main.hs",
    compile: ["ghc", "-O", "-v0", "-o", "main", "main.hs"],
    run: ["./main"],
    env: {},
    versionCommand: ["ghc", "--version"],
    limits: {
      processes: 16, // ghc runs gcc and ld
      memoryMbExtra: 64,
      compileSeconds: 60, // ghc -O takes a few seconds even for a small module
    },
    examples: {
      hello: 'main :: IO ()\nmain = putStrLn "hello, world"\n',
      sum: "main :: IO ()\nmain = do\n  [a, b] <- map read . words <$> getContents\n  print (a + b :: Integer)\n",
      broken: { source: "main :: IO ()\nmain = putStrLn (1 :: Int)\n", message: /main\.hs:2:\d+: error/ },
      crash: { source: 'main :: IO ()\nmain = error "boom"\n', exitCode: 1, message: /boom/ },
      spin: "loop :: Int -> Int\nloop n = loop (n + 1)\n\nmain :: IO ()\nmain = print (loop 0)\n",
      memory:
        'import qualified Data.ByteString as B\n\nmain :: IO ()\nmain = do\n  let b = B.replicate (32 * 1024 * 1024) 1\n  putStrLn (if B.last b == 1 then "ok" else "bad")\n',
    },
  },
  {
    id: "ocaml",
    name: "OCaml",
    layer: "ocaml",
    sourceFile: "main.ml",
    compile: ["ocamlopt", "-o", "main", "main.ml"],
    run: ["./main"],
    env: {},
    versionCommand: ["ocamlopt", "-version"],
    limits: { processes: 16 }, // ocamlopt runs as and gcc to link
    examples: {
      hello: 'let () = print_endline "hello, world"\n',
      sum: 'let () = Scanf.scanf " %d %d" (fun a b -> Printf.printf "%d\\n" (a + b))\n',
      broken: {
        source: "let () = print_endline 1\n",
        message: /File "main\.ml", line 1[\s\S]*Error: This expression has type int/,
      },
      crash: { source: 'let () = failwith "boom"\n', exitCode: 2, message: /Failure\("boom"\)/ },
      spin: "let rec loop n = loop (n + 1)\nlet () = loop 0\n",
      memory:
        "let () =\n  let b = Bytes.make (32 * 1024 * 1024) 'x' in\n  print_endline (if Bytes.get b (Bytes.length b - 1) = 'x' then \"ok\" else \"bad\")\n",
    },
  },
  {
    id: "fortran",
    name: "Fortran (GFortran)",
    layer: "fortran",
    sourceFile: "main.f90",
    compile: ["gfortran", "-O2", "-pipe", "-o", "main", "main.f90"],
    run: ["./main"],
    env: {},
    versionCommand: ["gfortran", "--version"],
    limits: { processes: 16 },
    examples: {
      hello: "program main\n  print '(a)', 'hello, world'\nend program main\n",
      sum: "program main\n  integer(8) :: a, b\n  read *, a, b\n  print '(i0)', a + b\nend program main\n",
      broken: {
        source: "program main\n  integer :: x\n  x = 'a'\nend program main\n",
        message: /main\.f90:3:\d+:[\s\S]*Error: Cannot convert/,
      },
      crash: {
        source: "program main\n  integer :: a\n  read *, a\n  print *, a\nend program main\n",
        exitCode: 2,
        message: /Fortran runtime error: End of file/,
      },
      spin: "program main\n  integer(8), volatile :: i\n  i = 0\n  do\n    i = i + 1\n  end do\nend program main\n",
      memory:
        "program main\n  character(len=1), allocatable, volatile :: b(:)\n  allocate(b(32 * 1024 * 1024))\n  b = 'x'\n  if (b(size(b)) == 'x') print '(a)', 'ok'\nend program main\n",
    },
  },
  {
    id: "d",
    name: "D (GDC)",
    layer: "d",
    sourceFile: "main.d",
    compile: ["gdc", "-O2", "-pipe", "-o", "main", "main.d"],
    run: ["./main"],
    env: {},
    versionCommand: ["gdc", "--version"],
    limits: { processes: 16 }, // the gdc driver's children; druntime's parallel GC threads
    examples: {
      hello: 'import std.stdio;\n\nvoid main() { writeln("hello, world"); }\n',
      sum: 'import std.stdio;\n\nvoid main() { long a, b; readf(" %d %d", a, b); writeln(a + b); }\n',
      broken: { source: 'void main() { int x = "s"; }\n', message: /main\.d:1:\d+: error: cannot implicitly convert/ },
      crash: {
        source: 'void main() { throw new Exception("boom"); }\n',
        exitCode: 1,
        message: /Exception@main\.d\(1\): boom/,
      },
      spin: "void main() { for (;;) {} }\n",
      memory:
        'import std.stdio;\n\nvoid main() { auto b = new ubyte[32 << 20]; b[] = 1; writeln(b[$ - 1] == 1 ? "ok" : "bad"); }\n',
    },
  },
  {
    id: "ada",
    name: "Ada (GNAT)",
    layer: "ada",
    sourceFile: "main.adb",
    compile: ["gnatmake", "-q", "-O2", "main.adb", "-o", "main"],
    run: ["./main"],
    env: {},
    versionCommand: ["gnatmake", "--version"],
    limits: { processes: 16 }, // gnatmake runs gcc, gnatbind and gnatlink
    examples: {
      hello: 'with Ada.Text_IO;\nprocedure Main is\nbegin\n   Ada.Text_IO.Put_Line ("hello, world");\nend Main;\n',
      sum: "with Ada.Text_IO;\nwith Ada.Long_Long_Integer_Text_IO;\nprocedure Main is\n   A, B : Long_Long_Integer;\nbegin\n   Ada.Long_Long_Integer_Text_IO.Get (A);\n   Ada.Long_Long_Integer_Text_IO.Get (B);\n   Ada.Long_Long_Integer_Text_IO.Put (A + B, Width => 0);\n   Ada.Text_IO.New_Line;\nend Main;\n",
      broken: {
        source: 'procedure Main is\n   X : Integer := "s";\nbegin\n   null;\nend Main;\n',
        message: /main\.adb:2:\d+: .*expected type/,
      },
      crash: {
        source: "procedure Main is\nbegin\n   raise Constraint_Error;\nend Main;\n",
        exitCode: 1,
        message: /raised CONSTRAINT_ERROR/,
      },
      spin: "procedure Main is\nbegin\n   loop\n      null;\n   end loop;\nend Main;\n",
      memory:
        "with Ada.Text_IO;\nprocedure Main is\n   type Buf is array (Positive range <>) of Character;\n   type Buf_Ptr is access Buf;\n   B : constant Buf_Ptr := new Buf (1 .. 32 * 1024 * 1024);\nbegin\n   B.all := (others => 'x');\n   if B (B'Last) = 'x' then\n      Ada.Text_IO.Put_Line (\"ok\");\n   end if;\nend Main;\n",
    },
  },
  {
    id: "pascal",
    name: "Pascal (Free Pascal)",
    layer: "pascal",
    sourceFile: "main.pas",
    compile: ["fpc", "-O2", "-v0", "-omain", "main.pas"],
    run: ["./main"],
    env: {},
    versionCommand: ["fpc", "-iV"],
    limits: { processes: 16 }, // fpc runs as and ld
    examples: {
      hello: "program main;\nbegin\n  writeln('hello, world');\nend.\n",
      sum: "program main;\nvar a, b: int64;\nbegin\n  read(a, b);\n  writeln(a + b);\nend.\n",
      broken: {
        source: "program main;\nvar x: integer;\nbegin\n  x := 'a';\nend.\n",
        message: /main\.pas\(4,\d+\) Error: Incompatible types/,
      },
      crash: {
        source: "program main;\nvar a, b: integer;\nbegin\n  a := 1;\n  b := 0;\n  writeln(a div b);\nend.\n",
        exitCode: 200,
        message: /Runtime error 200/,
      },
      spin: "program main;\nbegin\n  while true do ;\nend.\n",
      memory:
        "program main;\nvar p: PChar; n: longint;\nbegin\n  n := 32 * 1024 * 1024;\n  GetMem(p, n);\n  FillChar(p^, n, 1);\n  if p[n - 1] = #1 then writeln('ok');\nend.\n",
    },
  },
  {
    id: "nim",
    name: "Nim",
    layer: "nim",
    sourceFile: "main.nim",
    compile: ["nim", "c", "-d:release", "--hints:off", "--nimcache:/tmp/nimcache", "-o:main", "main.nim"],
    run: ["./main"],
    env: {},
    versionCommand: ["nim", "--version"],
    limits: { processes: 32, compileSeconds: 30 }, // nim runs one gcc per module in parallel
    examples: {
      hello: 'echo "hello, world"\n',
      sum: "import strutils\nlet v = stdin.readAll.splitWhitespace\necho parseBiggestInt(v[0]) + parseBiggestInt(v[1])\n",
      broken: { source: 'let x: int = "s"\n', message: /main\.nim\(1, \d+\) Error: type mismatch/ },
      crash: { source: 'raise newException(ValueError, "boom")\n', exitCode: 1, message: /boom \[ValueError\]/ },
      spin: "var i = 0\nwhile true:\n  i = (i + 1) mod 7\n",
      memory:
        "var s = newString(32 * 1024 * 1024)\nfor i in 0 ..< s.len: s[i] = 'x'\necho(if s[^1] == 'x': \"ok\" else: \"bad\")\n",
    },
  },
  {
    id: "cobol",
    name: "COBOL (GnuCOBOL)",
    layer: "cobol",
    sourceFile: "main.cob",
    compile: ["cobc", "-x", "-free", "-O", "-o", "main", "main.cob"],
    run: ["./main"],
    env: {},
    versionCommand: ["cobc", "--version"],
    limits: { processes: 16 }, // cobc runs gcc
    examples: {
      hello:
        'IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\nPROCEDURE DIVISION.\n    DISPLAY "hello, world".\n    STOP RUN.\n',
      sum: [
        "IDENTIFICATION DIVISION.",
        "PROGRAM-ID. MAIN.",
        "DATA DIVISION.",
        "WORKING-STORAGE SECTION.",
        "01 LINE-IN PIC X(80).",
        "01 A-STR PIC X(40).",
        "01 B-STR PIC X(40).",
        "01 A PIC S9(18).",
        "01 B PIC S9(18).",
        "01 C PIC -(19)9.",
        "PROCEDURE DIVISION.",
        "    ACCEPT LINE-IN.",
        "    UNSTRING LINE-IN DELIMITED BY ALL SPACES INTO A-STR B-STR.",
        "    COMPUTE A = FUNCTION NUMVAL(A-STR).",
        "    COMPUTE B = FUNCTION NUMVAL(B-STR).",
        "    COMPUTE C = A + B.",
        "    DISPLAY FUNCTION TRIM(C).",
        "    STOP RUN.",
        "",
      ].join("\n"),
      broken: {
        source:
          "IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\nPROCEDURE DIVISION.\n    DISPLAY UNDEFINED-THING.\n    STOP RUN.\n",
        message: /main\.cob:4: error:/,
      },
      crash: {
        source:
          'IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\nPROCEDURE DIVISION.\n    CALL "NOSUCHMODULE".\n    STOP RUN.\n',
        exitCode: 1,
        message: /NOSUCHMODULE/,
      },
      spin: "IDENTIFICATION DIVISION.\nPROGRAM-ID. MAIN.\nDATA DIVISION.\nWORKING-STORAGE SECTION.\n01 I PIC 9(9) VALUE 0.\nPROCEDURE DIVISION.\n    PERFORM FOREVER\n        ADD 1 TO I\n    END-PERFORM.\n",
      memory: [
        "IDENTIFICATION DIVISION.",
        "PROGRAM-ID. MAIN.",
        "DATA DIVISION.",
        "WORKING-STORAGE SECTION.",
        "01 BIG PIC X(33554432).",
        "PROCEDURE DIVISION.",
        '    MOVE ALL "X" TO BIG.',
        '    IF BIG(33554432:1) = "X"',
        '        DISPLAY "ok"',
        "    END-IF.",
        "    STOP RUN.",
        "",
      ].join("\n"),
    },
  },
  {
    id: "assembly",
    name: "Assembly (NASM, x86-64)",
    layer: "assembly",
    sourceFile: "main.asm",
    // As Judge0 and Piston do: a bare program with its own _start, linked without libc.
    compile: ["sh", "-c", "nasm -f elf64 -o main.o main.asm && ld -o main main.o"],
    run: ["./main"],
    env: {},
    versionCommand: ["nasm", "-v"],
    examples: {
      hello: [
        "section .data",
        'msg: db "hello, world", 10',
        "len: equ $ - msg",
        "section .text",
        "global _start",
        "_start:",
        "    mov eax, 1",
        "    mov edi, 1",
        "    lea rsi, [rel msg]",
        "    mov edx, len",
        "    syscall",
        "    mov eax, 60",
        "    xor edi, edi",
        "    syscall",
        "",
      ].join("\n"),
      sum: [
        "section .bss",
        "buf: resb 256",
        "out: resb 32",
        "section .text",
        "global _start",
        "_start:",
        "    xor eax, eax            ; read(0, buf, 256)",
        "    xor edi, edi",
        "    lea rsi, [rel buf]",
        "    mov edx, 256",
        "    syscall",
        "    lea rsi, [rel buf]",
        "    lea r9, [rsi + rax]     ; end of input",
        "    call parse",
        "    mov r12, rax",
        "    call parse",
        "    add rax, r12",
        "    lea rdi, [rel out + 31]",
        "    mov byte [rdi], 10",
        "    mov ecx, 1",
        "    mov r8, rax",
        "    test rax, rax",
        "    jns .digits",
        "    neg rax",
        ".digits:",
        "    mov r10, 10",
        ".loop:",
        "    xor edx, edx",
        "    div r10",
        "    add dl, '0'",
        "    dec rdi",
        "    mov [rdi], dl",
        "    inc ecx",
        "    test rax, rax",
        "    jnz .loop",
        "    test r8, r8",
        "    jns .write",
        "    dec rdi",
        "    mov byte [rdi], '-'",
        "    inc ecx",
        ".write:",
        "    mov rsi, rdi",
        "    mov edx, ecx",
        "    mov edi, 1",
        "    mov eax, 1",
        "    syscall",
        "    mov eax, 60",
        "    xor edi, edi",
        "    syscall",
        "parse:                      ; rsi: text (advanced past the number), r9: end; rax: the number",
        "    xor eax, eax",
        "    xor ecx, ecx",
        ".skip:",
        "    cmp rsi, r9",
        "    jae .done",
        "    movzx edx, byte [rsi]",
        "    cmp dl, '-'",
        "    je .neg",
        "    sub edx, '0'",
        "    cmp edx, 9",
        "    jbe .num",
        "    inc rsi",
        "    jmp .skip",
        ".neg:",
        "    mov ecx, 1",
        "    inc rsi",
        ".num:",
        "    cmp rsi, r9",
        "    jae .done",
        "    movzx edx, byte [rsi]",
        "    sub edx, '0'",
        "    cmp edx, 9",
        "    ja .done",
        "    imul rax, rax, 10",
        "    add rax, rdx",
        "    inc rsi",
        "    jmp .num",
        ".done:",
        "    test ecx, ecx",
        "    jz .ret",
        "    neg rax",
        ".ret:",
        "    ret",
        "",
      ].join("\n"),
      broken: {
        source: "section .text\nglobal _start\n_start:\n    frobnicate eax, 1\n",
        message: /main\.asm:4: error:/,
      },
      crash: { source: "section .text\nglobal _start\n_start:\n    mov qword [0], 1\n", signal: "SIGSEGV" },
      spin: "section .text\nglobal _start\n_start:\n    jmp _start\n",
      memory: [
        "section .bss",
        "big: resb 33554432",
        "section .data",
        'ok: db "ok", 10',
        "section .text",
        "global _start",
        "_start:",
        "    lea rdi, [rel big]",
        "    mov ecx, 33554432 / 4096",
        ".touch:",
        "    mov byte [rdi], 1",
        "    add rdi, 4096",
        "    dec ecx",
        "    jnz .touch",
        "    mov eax, 1",
        "    mov edi, 1",
        "    lea rsi, [rel ok]",
        "    mov edx, 3",
        "    syscall",
        "    mov eax, 60",
        "    xor edi, edi",
        "    syscall",
        "",
      ].join("\n"),
    },
  },
];
