// The playground page in a real headless Chromium against the real service,
// started as `npm start` starts it (its own Redis, a worker, the API), with
// API keys on: the page is driven with the keyboard where a person would be,
// and every run is a real run in the sandbox.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { inflateSync } from "node:zlib";
import puppeteer, { type Browser, type LaunchOptions, type Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const KEY = "playground-test-key";
const RUN_MS = 30_000; // a language's first run starts it cold: a few seconds

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, "127.0.0.1");
  await once(s, "listening");
  const { port } = s.address() as { port: number };
  s.close();
  await once(s, "close");
  return port;
}

/**
 * Chromium's sandbox needs unprivileged user namespaces (Debian's package has
 * no setuid helper). Where they are not to be had (a container's default
 * seccomp profile, a kernel with them off) it will not start: then it runs
 * with --no-sandbox, tolerable here since it loads only this service's page.
 */
async function launch(userDataDir: string): Promise<Browser> {
  const opts: LaunchOptions = {
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    args: ["--no-first-run", "--no-default-browser-check"],
  };
  try {
    return await puppeteer.launch(opts);
  } catch (e) {
    console.warn(`chromium with its sandbox failed (${(e as Error).message.split("\n")[0]}): trying --no-sandbox`);
    return puppeteer.launch({ ...opts, args: [...opts.args!, "--no-sandbox"] });
  }
}

/** How many distinct RGB colours a PNG (8-bit RGB or RGBA, not interlaced, as Chromium writes them) holds. */
function distinctColours(png: Buffer): number {
  let width = 0;
  let height = 0;
  let bpp = 0;
  const idat: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString("latin1", off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[12]]).toEqual([8, 0]); // bit depth, interlace
      bpp = ({ 2: 3, 6: 4 } as Record<number, number>)[data[9]!]!;
    } else if (type === "IDAT") idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  let prev = Buffer.alloc(stride);
  let cur = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      const p = a + b - c;
      const paeth =
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
          ? a
          : Math.abs(p - b) <= Math.abs(p - c)
            ? b
            : c;
      const add = [0, a, b, (a + b) >> 1, paeth][filter]!;
      cur[x] = (line[x]! + add) & 255;
    }
    for (let x = 0; x < stride; x += bpp) colours.add(cur.readUIntBE(x, 3));
    [prev, cur] = [cur, prev];
  }
  return colours.size;
}

describe("the playground page", () => {
  let stateDir: string;
  let browserDir: string;
  let service: ChildProcess;
  let serviceOutput = "";
  let base: string;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  /** Records what a page asks for, and what it throws or its CSP refuses. */
  async function watch(p: Page) {
    p.on("request", (r) => requests.push(r.url()));
    p.on("pageerror", (e) => pageErrors.push(String(e)));
    await p.evaluateOnNewDocument(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        const w = window as unknown as { cspViolations?: string[] };
        w.cspViolations ??= [];
        w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
  }

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), "ruse-playground-"));
    browserDir = mkdtempSync(join(tmpdir(), "ruse-chromium-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      RUSE_STATE_DIR: stateDir,
      RUSE_API_KEYS: KEY,
    };
    delete env.REDIS_URL; // the service starts its own
    service = spawn(process.execPath, ["--import", "tsx", "api/start.ts"], {
      cwd: REPO,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    service.stdout!.on("data", (d: Buffer) => (serviceOutput += d));
    service.stderr!.on("data", (d: Buffer) => (serviceOutput += d));
    const [started] = await Promise.all([
      (async () => {
        for (const end = Date.now() + 60_000; Date.now() < end; await sleep(200)) {
          if (service.exitCode !== null) throw new Error(`the service exited: ${serviceOutput}`);
          const ok = await fetch(`${base}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) return true;
        }
        throw new Error(`the service did not become healthy: ${serviceOutput}`);
      })(),
      launch(browserDir).then((b) => (browser = b)),
    ]);
    expect(started).toBe(true);
    page = (await browser.pages())[0] ?? (await browser.newPage());
    await page.setViewport({ width: 1280, height: 900 });
    await watch(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (service && service.exitCode === null && service.signalCode === null) {
      const exited = once(service, "exit");
      service.kill("SIGTERM");
      const t = setTimeout(() => service.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(t);
    }
    for (const d of [stateDir, browserDir]) if (d) rmSync(d, { recursive: true, force: true });
  }, 60_000);

  const text = (p: Page, sel: string) => p.$eval(sel, (el) => el.textContent ?? "");
  const editorText = (p: Page) =>
    p.$eval(".cm-content", (el) => Array.from(el.querySelectorAll(".cm-line"), (l) => l.textContent).join("\n"));
  const ctrl = async (key: string) => {
    await page.keyboard.down("Control");
    await page.keyboard.press(key as "Enter");
    await page.keyboard.up("Control");
  };

  /** Replaces a textarea's or input's text by typing. */
  async function fill(sel: string, value: string) {
    await page.focus(sel);
    await page.$eval(sel, (el) => (el as HTMLTextAreaElement).select());
    await page.keyboard.press("Backspace");
    await page.keyboard.type(value);
  }

  /**
   * Replaces the program: select all in the editor, then the text in one
   * insertion (typed key by key, auto-indent and bracket closing would
   * change it).
   */
  async function setCode(source: string) {
    await page.click(".cm-content");
    await ctrl("a");
    await page.keyboard.press("Backspace");
    await page.keyboard.sendCharacter(source);
    expect(await editorText(page)).toBe(source);
  }

  async function chooseLanguage(id: string) {
    await page.select("#language", id);
    expect(await page.$eval("#language", (el) => (el as HTMLSelectElement).value)).toBe(id);
  }

  /** Ctrl+Enter from wherever the focus is, then the result once the run is over. */
  async function run() {
    await ctrl("Enter");
    await page.waitForFunction(() => document.getElementById("results")!.getAttribute("aria-busy") === "false", {
      timeout: RUN_MS,
    });
    const [status, verdict, stdout, stderr, usage, message] = await Promise.all(
      ["#status", "#verdict", "#stdout", "#stderr", "#usage", "#message"].map((s) => text(page, s)),
    );
    return { status, verdict, stdout, stderr, usage, message };
  }

  it("serves the page with a strict Content-Security-Policy, and asks for a key the server wants", async () => {
    const res = await page.goto(`${base}/`, { waitUntil: "load" });
    expect(res!.status(), await res!.text()).toBe(200);
    const csp = res!.headers()["content-security-policy"];
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval/);
    // GET /v1/languages needs the key: the page says so and puts the focus on the key field.
    await page.waitForFunction(() => !document.getElementById("message")!.hidden);
    expect(await text(page, "#message")).toMatch(/API key is needed/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("api-key");
    await page.keyboard.type(KEY);
    await page.waitForSelector('#language option[value="python"]');
    // The first language's "hello, world" is there to run.
    const langs = await (await fetch(`${base}/v1/languages`, { headers: { Authorization: `Bearer ${KEY}` } })).json();
    expect(await editorText(page)).toBe(langs.find((l: any) => l.id === "python").helloWorld);
  });

  const programs = [
    {
      language: "python",
      source: 'import sys\nname = sys.stdin.read().strip()\nprint(f"hello, {name.upper()}!")\n',
      stdin: "world",
      stdout: "hello, WORLD!\n",
    },
    {
      language: "c",
      source:
        '#include <stdio.h>\n#include <string.h>\n\nint main(void) {\n  char s[64] = "";\n  if (scanf("%63s", s) != 1) return 1;\n  printf("%zu letters in %s\\n", strlen(s), s);\n  return 0;\n}\n',
      stdin: "sandbox",
      stdout: "7 letters in sandbox\n",
    },
    {
      language: "javascript",
      source:
        'const words = require("fs").readFileSync(0, "utf8").trim().split(/\\s+/);\nconsole.log(words.reverse().join(" "));\n',
      stdin: "one two three",
      stdout: "three two one\n",
    },
  ];

  let screenshot: Buffer | undefined;
  for (const p of programs)
    it(`runs ${p.language} with stdin, by Ctrl+Enter`, async () => {
      await chooseLanguage(p.language);
      await setCode(p.source);
      await fill("#stdin", p.stdin);
      const r = await run();
      expect(r, JSON.stringify(r)).toMatchObject({ status: "completed", verdict: "ok", stdout: p.stdout, message: "" });
      expect(r.usage).toMatch(/^CPU [\d.]+ ms · wall [\d.]+ ms · memory \d+ KB$/);
      if (p.language === "python") screenshot = Buffer.from(await page.screenshot({ type: "png", fullPage: true }));
    });

  it("judges tests: each test's verdict beside it, and the run's", async () => {
    await page.click("#add-test"); // focus moves to the new test's input
    await page.keyboard.type("a b");
    await page.focus("#tests li:nth-child(1) [data-test-expected]");
    await page.keyboard.type("b a");
    await page.click("#add-test");
    await page.keyboard.type("x y z");
    await page.focus("#tests li:nth-child(2) [data-test-expected]");
    await page.keyboard.type("x y z"); // wrong: the program reverses
    const r = await run();
    expect(r.verdict, JSON.stringify(r)).toBe("wrong_answer");
    const each = await page.$$eval("[data-test-verdict]", (els) => els.map((e) => e.textContent));
    expect(each).toEqual(["accepted", "wrong_answer"]);
    // Without tests again, for what follows.
    for (let i = 0; i < 2; i++) await page.click("#tests [data-remove-test]");
    expect(await page.$$("#tests li")).toHaveLength(0);
  });

  it("shows a compile error with the compiler's message", async () => {
    await chooseLanguage("c");
    expect(await editorText(page)).toBe(programs[1]!.source); // its draft was kept
    // Tab indents in the editor; Escape, then Tab, leaves it (to the next control: stdin).
    await page.click(".cm-content");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => !!document.activeElement?.closest(".cm-editor"))).toBe(true);
    await page.keyboard.press("Escape");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("stdin");
    await setCode("int main(void) {\n  return missing_name;\n}\n");
    const r = await run();
    expect(r.verdict, JSON.stringify(r)).toBe("compile_error");
    expect(r.stderr).toMatch(/missing_name.*undeclared|undeclared.*missing_name/);
  });

  it("says a key is needed when a run is refused with 401", async () => {
    await fill("#api-key", "");
    const r = await run();
    expect(r.message).toMatch(/API key is needed/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("api-key");
    await page.keyboard.type(KEY);
  });

  it("restores language, code, stdin and tests from a share link", async () => {
    await page.click("#add-test");
    await page.keyboard.type("in");
    await page.focus("[data-test-expected]");
    await page.keyboard.type("out");
    await page.click("#share");
    await page.waitForFunction(() => location.hash.length > 1);
    const url = page.url();
    expect(url).not.toContain(KEY);
    const source = await editorText(page);
    const stdin = await page.$eval("#stdin", (el) => (el as HTMLTextAreaElement).value);
    expect(stdin).toBe("one two three");

    const other = await browser.newPage();
    await watch(other);
    await other.goto(url);
    await other.waitForFunction(() => document.querySelector(".cm-content")?.textContent?.includes("missing_name"));
    expect(await other.$eval("#language", (el) => (el as HTMLSelectElement).value)).toBe("c");
    expect(await editorText(other)).toBe(source);
    expect(await other.$eval("#stdin", (el) => (el as HTMLTextAreaElement).value)).toBe(stdin);
    const tests = await other.$$eval("#tests li", (lis) =>
      lis.map((li) => [
        li.querySelector<HTMLTextAreaElement>("[data-test-stdin]")!.value,
        li.querySelector<HTMLTextAreaElement>("[data-test-expected]")!.value,
      ]),
    );
    expect(tests).toEqual([["in", "out"]]);

    // A link cut short or made up: a note, and the page as usual.
    await other.goto("about:blank");
    await other.goto(`${base}/#bm90IGpzb24-%%`);
    await other.waitForSelector('#language option[value="python"]');
    expect(await text(other, "#note")).toMatch(/could not be read/);
    expect(await other.$eval("#language", (el) => (el as HTMLSelectElement).value)).toBe("python");
    await other.close();
  });

  it("renders (a screenshot of many colours), asks nothing of another origin, breaks no CSP rule", async () => {
    expect(screenshot).toBeDefined();
    expect(distinctColours(screenshot!)).toBeGreaterThan(20);
    if (process.env.RUSE_WRITE_SCREENSHOT === "1") {
      mkdirSync(join(REPO, "docs"), { recursive: true });
      writeFileSync(join(REPO, "docs/playground.png"), screenshot!);
    }
    // Runs were followed by their event stream, not by polling.
    expect(requests.filter((u) => /\/v1\/runs\/[^/]+\/events$/.test(u)).length).toBeGreaterThanOrEqual(5);
    expect(requests.filter((u) => /\/v1\/runs\/[^/]+$/.test(u))).toEqual([]);
    expect(requests.filter((u) => !u.startsWith(`${base}/`) && u !== "about:blank")).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { cspViolations?: string[] }).cspViolations ?? [])).toEqual(
      [],
    );
    expect(pageErrors).toEqual([]);
  });
});
