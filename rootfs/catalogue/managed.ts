// Languages on a managed runtime: the JVM family (one JDK layer under them
// all) and Mono's C#.
import type { Language, LanguageLimits } from "../languages.js";

/**
 * JVM flags of every run: serial GC (one GC thread, predictable memory), no
 * perf-data mmap in /tmp, and a 64 MiB stack for deep recursion. The JVM
 * cannot see the sandbox's cgroup and would size its heap from the host's
 * RAM, so each JVM run also gets -Xmx (runMemoryArg) from the run's limit.
 */
const JVM = ["-XX:+UseSerialGC", "-XX:-UsePerfData", "-Xss64m"] as const;
const JVM_HEAP = "-Xmx{mb}m";
const JVM_LIMITS: LanguageLimits = {
  processes: 64, // the JVM starts compiler, GC, signal and finalizer threads even for hello world
  memoryMbExtra: 192, // metaspace, code cache and thread stacks over the Java heap
};
/** For compilers that are JVM programs started by a script (kotlinc, scalac): read by those scripts. */
const JVM_COMPILER_OPTS = "-Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -Xss16m";
/** JUnit 4 (with Hamcrest) and JUnit 5's console launcher: on every Java compile and run's class path. */
const JUNIT =
  "/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar:/usr/share/java/junit-platform-console-standalone.jar";

export const managed: readonly Language[] = [
  {
    id: "java",
    name: "Java (OpenJDK 17, JUnit)",
    layer: "junit",
    sourceFile: "Main.java",
    // -J flags go to the JVM running javac: C1-only JIT and serial GC make this
    // short-lived compiler start faster and use fewer threads.
    compile: [
      "javac",
      "-J-XX:+UseSerialGC",
      "-J-XX:TieredStopAtLevel=1",
      "-J-XX:-UsePerfData",
      "-encoding",
      "UTF-8",
      "-cp",
      `/box:${JUNIT}`,
      "Main.java",
    ],
    run: ["java", ...JVM, "-cp", `/box:${JUNIT}`, "Main"],
    runMemoryArg: JVM_HEAP,
    env: {},
    versionCommand: ["javac", "-version"],
    limits: { ...JVM_LIMITS, compileSeconds: 30 }, // javac: ~1 s of JVM start-up before it compiles anything
    examples: {
      hello: 'public class Main { public static void main(String[] args) { System.out.println("hello, world"); } }\n',
      sum: "import java.util.Scanner;\npublic class Main { public static void main(String[] args) { Scanner s = new Scanner(System.in); long a = s.nextLong(), b = s.nextLong(); System.out.println(a + b); } }\n",
      broken: {
        source: 'public class Main { public static void main(String[] args) { int x = "s"; } }\n',
        message: /Main\.java:1: error: incompatible types/,
      },
      crash: {
        source:
          'public class Main { public static void main(String[] args) { throw new RuntimeException("boom"); } }\n',
        exitCode: 1,
        message: /RuntimeException: boom/,
      },
      spin: "public class Main { public static void main(String[] args) { while (true) {} } }\n",
      memory:
        'public class Main { public static void main(String[] args) { byte[] b = new byte[32 << 20]; java.util.Arrays.fill(b, (byte) 1); System.out.println(b[b.length - 1] == 1 ? "ok" : "bad"); } }\n',
    },
  },
  {
    id: "kotlin",
    name: "Kotlin",
    layer: "kotlin",
    sourceFile: "main.kt",
    compile: ["kotlinc", "-nowarn", "-d", "/box", "main.kt"],
    run: ["java", ...JVM, "-cp", "/box:/usr/share/java/kotlin-stdlib.jar", "MainKt"],
    runMemoryArg: JVM_HEAP,
    env: { JAVA_OPTS: JVM_COMPILER_OPTS },
    // kotlinc's script passes -noverify, and JDK 17 warns of it first: the version is the "kotlinc-jvm" line.
    versionCommand: ["sh", "-c", "kotlinc -version 2>&1 | grep kotlinc-jvm"],
    limits: { ...JVM_LIMITS, compileSeconds: 90 }, // kotlinc is slow to start: no compile daemon may outlive a run
    examples: {
      hello: 'fun main() {\n    println("hello, world")\n}\n',
      sum: 'fun main() {\n    val (a, b) = readLine()!!.trim().split(Regex("\\\\s+")).map { it.toLong() }\n    println(a + b)\n}\n',
      broken: { source: 'fun main() {\n    val x: Int = "s"\n}\n', message: /main\.kt:2:\d+: error: type mismatch/ },
      crash: {
        source: 'fun main() {\n    throw RuntimeException("boom")\n}\n',
        exitCode: 1,
        message: /RuntimeException: boom/,
      },
      spin: "fun main() {\n    while (true) {}\n}\n",
      memory:
        'fun main() {\n    val b = ByteArray(32 shl 20) { 1 }\n    println(if (b[b.size - 1] == 1.toByte()) "ok" else "bad")\n}\n',
    },
  },
  {
    id: "scala",
    name: "Scala 2",
    layer: "scala",
    sourceFile: "main.scala",
    compile: ["scalac", "-nowarn", "-d", "/box", "main.scala"],
    run: ["java", ...JVM, "-cp", "/box:/usr/share/scala-2.11/lib/scala-library.jar", "Main"],
    runMemoryArg: JVM_HEAP,
    env: { JAVA_OPTS: JVM_COMPILER_OPTS },
    versionCommand: ["scalac", "-version"],
    limits: { ...JVM_LIMITS, compileSeconds: 60 }, // scalac: several seconds cold; no fsc daemon may outlive a run
    examples: {
      hello: 'object Main {\n  def main(args: Array[String]): Unit = println("hello, world")\n}\n',
      sum: 'object Main {\n  def main(args: Array[String]): Unit = {\n    val Array(a, b) = scala.io.StdIn.readLine().trim.split("\\\\s+").map(_.toLong)\n    println(a + b)\n  }\n}\n',
      broken: {
        source: 'object Main {\n  def main(args: Array[String]): Unit = { val x: Int = "s" }\n}\n',
        message: /main\.scala:2: error: type mismatch/,
      },
      crash: {
        source: 'object Main {\n  def main(args: Array[String]): Unit = throw new RuntimeException("boom")\n}\n',
        exitCode: 1,
        message: /RuntimeException: boom/,
      },
      spin: "object Main {\n  def main(args: Array[String]): Unit = while (true) {}\n}\n",
      memory:
        'object Main {\n  def main(args: Array[String]): Unit = {\n    val b = Array.fill[Byte](32 << 20)(1)\n    println(if (b(b.length - 1) == 1) "ok" else "bad")\n  }\n}\n',
    },
  },
  {
    id: "clojure",
    name: "Clojure",
    layer: "clojure",
    sourceFile: "main.clj",
    run: [
      "java",
      ...JVM,
      "-cp",
      "/usr/share/java/clojure.jar:/usr/share/java/spec.alpha.jar:/usr/share/java/core.specs.alpha.jar",
      "clojure.main",
      "main.clj",
    ],
    runMemoryArg: JVM_HEAP,
    env: {},
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
    versionCommand: ["dpkg-query", "-W", "-f", "${Version}\\n", "clojure"],
    limits: { ...JVM_LIMITS, startupMs: 3000 }, // loading clojure.core costs 1-2 s of CPU before the program starts
    examples: {
      hello: '(println "hello, world")\n',
      sum: '(require \'[clojure.string :as str])\n(let [[a b] (map #(Long/parseLong %) (str/split (str/trim (slurp *in*)) #"\\s+"))]\n  (println (+ a b)))\n',
      crash: { source: '(throw (RuntimeException. "boom"))\n', exitCode: 1, message: /boom/ },
      spin: "(loop [] (recur))\n",
      memory:
        '(let [b (byte-array (* 32 1024 1024) (byte 1))]\n  (println (if (= 1 (aget b (dec (alength b)))) "ok" "bad")))\n',
    },
  },
  {
    id: "groovy",
    name: "Groovy",
    layer: "groovy",
    sourceFile: "main.groovy",
    run: ["java", ...JVM, "-cp", "/usr/share/groovy/lib/*", "groovy.ui.GroovyMain", "main.groovy"],
    runMemoryArg: JVM_HEAP,
    env: {},
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
    versionCommand: ["dpkg-query", "-W", "-f", "${Version}\\n", "groovy"],
    limits: { ...JVM_LIMITS, startupMs: 3000 }, // Groovy compiles the script to bytecode at start: 1-2 s of CPU
    examples: {
      hello: 'println "hello, world"\n',
      sum: "def (a, b) = System.in.text.trim().split(/\\s+/).collect { it as long }\nprintln a + b\n",
      crash: { source: 'throw new RuntimeException("boom")\n', exitCode: 1, message: /RuntimeException: boom/ },
      spin: "while (true) {}\n",
      memory:
        'byte[] b = new byte[32 << 20]\njava.util.Arrays.fill(b, (byte) 1)\nprintln(b[b.length - 1] == 1 ? "ok" : "bad")\n',
    },
  },
  {
    id: "csharp",
    name: "C# (Mono)",
    layer: "csharp",
    sourceFile: "main.cs",
    compile: ["mcs", "-optimize+", "-out:main.exe", "main.cs"],
    run: ["mono", "main.exe"],
    env: {},
    versionCommand: ["mcs", "--version"],
    limits: {
      processes: 32, // mono's finalizer, GC and thread-pool threads
      memoryMbExtra: 64, // the runtime and its corlib
      compileSeconds: 30, // mcs is itself a Mono program
    },
    examples: {
      hello: 'class Program { static void Main() { System.Console.WriteLine("hello, world"); } }\n',
      sum: "using System;\nclass Program {\n  static void Main() {\n    var t = Console.In.ReadToEnd().Split((char[])null, StringSplitOptions.RemoveEmptyEntries);\n    Console.WriteLine(long.Parse(t[0]) + long.Parse(t[1]));\n  }\n}\n",
      broken: {
        source: 'class Program { static void Main() { int x = "s"; } }\n',
        message: /main\.cs\(1,\d+\): error CS0029/,
      },
      crash: {
        source: 'class Program { static void Main() { throw new System.Exception("boom"); } }\n',
        exitCode: 1,
        message: /System\.Exception: boom/,
      },
      spin: "class Program { static void Main() { while (true) {} } }\n",
      memory:
        'class Program {\n  static void Main() {\n    var b = new byte[32 << 20];\n    for (int i = 0; i < b.Length; i++) b[i] = 1;\n    System.Console.WriteLine(b[b.Length - 1] == 1 ? "ok" : "bad");\n  }\n}\n',
    },
  },
];
