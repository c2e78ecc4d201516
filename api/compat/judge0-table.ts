// Judge0 CE's numbers and names (judge0/judge0 v1.13: db/languages/active.rb
// and archived.rb, app/enumerations/status.rb), where ruse has the language.
import type { Language } from "../../rootfs/languages.js";

/**
 * Judge0's language ids of each ruse language, the first the one listed by
 * GET /languages. The rest are the other versions Judge0 numbered (GCC 7.4
 * and 8.3 besides 9.2, and the archived ids its own docs still use, such as
 * 4 for C): a client sending any of them gets ruse's one version. Python 2
 * (36, 37, 70) is not Python 3 and is not taken. Languages Judge0 does not
 * have are numbered from 1001 (ruse's own, never one of Judge0's).
 */
export const judge0Ids: Readonly<Record<string, readonly number[]>> = {
  assembly: [45],
  bash: [46, 1, 2],
  c: [50, 49, 48, 75, 4, 5, 6, 7, 8, 9],
  csharp: [51, 16, 17],
  cpp: [54, 53, 52, 76, 10, 11, 12, 13, 14, 15],
  commonlisp: [55],
  d: [56],
  elixir: [57, 20],
  erlang: [58, 21],
  fortran: [59],
  go: [60, 22],
  haskell: [61, 23, 24],
  java: [62, 26, 27, 28],
  javascript: [63, 29, 30],
  lua: [64],
  ocaml: [65, 31],
  octave: [66, 32],
  pascal: [67, 33],
  php: [68],
  prolog: [69],
  python: [71, 34, 35],
  ruby: [72, 38, 39, 40, 41],
  rust: [73, 42],
  typescript: [74],
  cobol: [77],
  kotlin: [78],
  r: [80],
  scala: [81],
  sqlite: [82],
  perl: [85],
  clojure: [86, 18],
  groovy: [88],
  ada: [1001],
  nim: [1002],
  tcl: [1003],
  racket: [1004],
  scheme: [1005],
  awk: [1006],
};

/** Judge0's statuses, by id. */
export const judge0Statuses = [
  "In Queue",
  "Processing",
  "Accepted",
  "Wrong Answer",
  "Time Limit Exceeded",
  "Compilation Error",
  "Runtime Error (SIGSEGV)",
  "Runtime Error (SIGXFSZ)",
  "Runtime Error (SIGFPE)",
  "Runtime Error (SIGABRT)",
  "Runtime Error (NZEC)",
  "Runtime Error (Other)",
  "Internal Error",
  "Exec Format Error",
].map((description, i) => ({ id: i + 1, description }));

export const STATUS = {
  inQueue: 1,
  processing: 2,
  accepted: 3,
  wrongAnswer: 4,
  timeLimit: 5,
  compileError: 6,
  nzec: 11,
  otherRuntime: 12,
  internal: 13,
} as const;

/** The runtime error a killing signal is, as Judge0 tells them apart (SIGSEGV, SIGXFSZ, SIGFPE, SIGABRT, other). */
export const signalStatus = (signal: number): number => ({ 11: 7, 25: 8, 8: 9, 6: 10 })[signal] ?? STATUS.otherRuntime;

/** The ruse language of a Judge0 language id. */
export const languageOfId = new Map(
  Object.entries(judge0Ids).flatMap(([lang, ids]) => ids.map((id) => [id, lang] as const)),
);
export const primaryId = (lang: Language) => judge0Ids[lang.id]![0]!;

/** Judge0's name of a language: its name and the version of its built image. */
export const judge0Name = (lang: Language, version: string | null) =>
  version ? `${lang.name.replace(/ \(.*\)$/, "")} (${version})` : lang.name;
