/// <reference lib="dom" />
// A share link carries the program in the URL's fragment, which browsers
// never send to a server: #base64url(JSON). Never the API key.

export interface TestCase {
  stdin: string;
  expectedOutput: string;
}

export interface Shared {
  language: string;
  source: string;
  stdin: string;
  tests: TestCase[];
}

export function encodeShare(s: Shared): string {
  let bin = "";
  for (const b of new TextEncoder().encode(JSON.stringify(s))) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const isString = (v: unknown): v is string => typeof v === "string";

/** The shared program, or throws: a link may be cut short or made up, and is checked field by field. */
export function decodeShare(fragment: string): Shared {
  const bin = atob(fragment.replace(/-/g, "+").replace(/_/g, "/"));
  const json = new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  const v = JSON.parse(json) as Partial<Record<keyof Shared, unknown>> | null;
  if (!v || !isString(v.language) || !isString(v.source)) throw new Error("no language or source");
  const tests = Array.isArray(v.tests) ? v.tests : [];
  if (!tests.every((t) => t && isString(t.stdin) && isString(t.expectedOutput))) throw new Error("malformed tests");
  return {
    language: v.language,
    source: v.source,
    stdin: isString(v.stdin) ? v.stdin : "",
    tests: tests.map((t: TestCase) => ({ stdin: t.stdin, expectedOutput: t.expectedOutput })),
  };
}
