// Comparing a program's output with the expected one. "lines" (the default):
// trailing spaces, tabs and CRs on each line and trailing blank lines are
// ignored, so "3\n", "3" and "3 \r\n\n" all match "3\n".
export function sameLines(actual: string, expected: string): boolean {
  const norm = (s: string) => {
    const lines = s.split("\n").map((l) => l.replace(/[ \t\r]+$/, ""));
    while (lines.length && lines[lines.length - 1] === "") lines.pop();
    return lines;
  };
  const a = norm(actual);
  const e = norm(expected);
  return a.length === e.length && a.every((l, i) => l === e[i]);
}
