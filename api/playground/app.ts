/// <reference lib="dom" />
// The playground page: pick a language, edit, run, see the result. It talks
// only to the API of its own origin (api-client.ts).
import type { RunResult, Stage } from "../../core/schemas.js";
import { ApiError, apiJson } from "./api-client.js";
import { createEditor } from "./editor.js";
import { decodeShare, encodeShare, type Shared, type TestCase } from "./share.js";
import { followRun } from "./sse.js";

interface Language {
  id: string;
  name: string;
  version: string | null;
  ready: boolean;
  helloWorld: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const picker = $<HTMLSelectElement>("language");
const runButton = $<HTMLButtonElement>("run");
const stdinBox = $<HTMLTextAreaElement>("stdin");
const keyBox = $<HTMLInputElement>("api-key");
const testList = $<HTMLOListElement>("tests");
const testRow = $<HTMLTemplateElement>("test-row");
const results = $("results");
const note = $("note");

const KEY_ITEM = "ruse.apiKey";
// localStorage can be refused (private modes, storage off): the key then lasts as long as the page.
const storage = {
  get: () => {
    try {
      return localStorage.getItem(KEY_ITEM) ?? "";
    } catch {
      return "";
    }
  },
  set: (v: string) => {
    try {
      if (v) localStorage.setItem(KEY_ITEM, v);
      else localStorage.removeItem(KEY_ITEM);
    } catch {}
  },
};
const key = () => keyBox.value.trim();

const editor = createEditor($("editor"), {
  nonce: document.querySelector<HTMLScriptElement>("script[nonce]")?.nonce || undefined,
  labelledBy: "code-heading",
  describedBy: "editor-hint",
});

let languages: Language[] = [];
let current = "";

function switchTo(id: string, source?: string) {
  current = id;
  picker.value = id;
  editor.show(id, () => source ?? languages.find((l) => l.id === id)?.helloWorld ?? "");
}

// ---- tests

function renumberTests() {
  testList.querySelectorAll("li").forEach((li, i) => {
    for (const span of li.querySelectorAll<HTMLElement>("[data-label]"))
      span.textContent = `${span.dataset.label} ${i + 1}`;
    li.querySelector("[data-remove-test]")!.setAttribute("aria-label", `Remove test ${i + 1}`);
  });
}

function addTest(t: TestCase = { stdin: "", expectedOutput: "" }): HTMLLIElement {
  const li = (testRow.content.cloneNode(true) as DocumentFragment).querySelector("li")!;
  li.querySelector<HTMLTextAreaElement>("[data-test-stdin]")!.value = t.stdin;
  li.querySelector<HTMLTextAreaElement>("[data-test-expected]")!.value = t.expectedOutput;
  li.querySelector("[data-remove-test]")!.addEventListener("click", () => {
    li.remove();
    renumberTests();
    $("add-test").focus();
  });
  testList.append(li);
  renumberTests();
  return li;
}

function readTests(): TestCase[] {
  return [...testList.querySelectorAll("li")].map((li) => ({
    stdin: li.querySelector<HTMLTextAreaElement>("[data-test-stdin]")!.value,
    expectedOutput: li.querySelector<HTMLTextAreaElement>("[data-test-expected]")!.value,
  }));
}

// ---- results

function showVerdict(el: HTMLElement, verdict: string | undefined) {
  el.textContent = verdict ?? "–";
  if (verdict) el.dataset.verdict = verdict;
  else delete el.dataset.verdict;
}

function showMessage(text: string, issues: { path: string; message: string }[] = []) {
  const box = $("message");
  box.replaceChildren();
  const p = document.createElement("p");
  p.textContent = text;
  box.append(p);
  if (issues.length) {
    const ul = document.createElement("ul");
    for (const i of issues) {
      const li = document.createElement("li");
      li.textContent = `${i.path}: ${i.message}`;
      ul.append(li);
    }
    box.append(ul);
  }
  box.hidden = false;
}

function hideMessage() {
  $("message").replaceChildren();
  $("message").hidden = true;
}

function clearResult() {
  showVerdict($("verdict"), undefined);
  $("usage").textContent = "–";
  $("stdout").textContent = "";
  $("stderr").textContent = "";
  hideMessage();
  for (const el of testList.querySelectorAll<HTMLElement>("[data-test-verdict]")) showVerdict(el, undefined);
}

const output = (s: Stage | null | undefined, which: "stdout" | "stderr") =>
  s ? s[which] + (s[`${which}Truncated`] ? "\n[… cut at the output limit]" : "") : "";

function showResult(r: RunResult) {
  showVerdict($("verdict"), r.verdict);
  const u = r.usage ?? r.run?.usage ?? r.compile?.usage;
  $("usage").textContent = u ? `CPU ${u.cpuMs} ms · wall ${u.wallMs} ms · memory ${u.memoryKb} KB` : "–";
  if (r.tests) {
    const rows = testList.querySelectorAll<HTMLElement>("[data-test-verdict]");
    r.tests.forEach((t, i) => {
      if (rows[i]) showVerdict(rows[i], t.verdict);
    });
    const each = (which: "stdout" | "stderr") =>
      r.tests!.map((t, i) => `── test ${i + 1}: ${t.verdict}\n${output(t, which)}`).join("\n");
    $("stdout").textContent = each("stdout");
    $("stderr").textContent = r.tests.some((t) => t.stderr) ? each("stderr") : "";
  } else $("stdout").textContent = output(r.run, "stdout");
  // A compiler may write its errors to stdout (Free Pascal does).
  if (r.verdict === "compile_error")
    $("stderr").textContent = output(r.compile, "stderr") || output(r.compile, "stdout");
  else if (!r.tests) $("stderr").textContent = output(r.run, "stderr");
  const why = r.message ?? r.compile?.message ?? r.run?.message;
  if (why) showMessage(why);
}

function showError(e: unknown) {
  if (!(e instanceof ApiError)) return showMessage(`Could not reach the server: ${(e as Error).message}`);
  if (e.status === 401) {
    showMessage(`An API key is needed: enter it in the API key field. (${e.message})`);
    keyBox.focus();
  } else if (e.status === 429)
    showMessage(`Too many requests: ${e.message}. Retry after ${e.retryAfter ?? "a few"} s.`, e.issues);
  else showMessage(e.message, e.issues);
}

// ---- running

let busy = false;

async function run() {
  if (busy) return;
  if (!current && !(await loadLanguages())) return;
  busy = true;
  runButton.setAttribute("aria-disabled", "true");
  results.setAttribute("aria-busy", "true");
  clearResult();
  $("status").textContent = "submitting";
  const tests = readTests();
  const body = tests.length
    ? { language: current, source: editor.text(), tests }
    : { language: current, source: editor.text(), stdin: stdinBox.value };
  try {
    const { id } = await apiJson<{ id: string }>("/v1/runs", key(), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    $("status").textContent = "queued";
    const r = await followRun(id, key(), (status) => {
      $("status").textContent = status;
    });
    $("status").textContent = r.status;
    showResult(r);
  } catch (e) {
    $("status").textContent = "failed";
    showError(e);
  } finally {
    busy = false;
    // aria-disabled rather than disabled: a disabled button would drop the keyboard focus.
    runButton.removeAttribute("aria-disabled");
    results.setAttribute("aria-busy", "false");
  }
}

// ---- languages and the share link

let shared: Shared | null = null;
if (location.hash.length > 1) {
  try {
    shared = decodeShare(location.hash.slice(1));
  } catch {
    note.textContent = "The link's program could not be read (the link may be cut short): it is ignored.";
  }
}

let loading: Promise<boolean> | null = null;
function loadLanguages(): Promise<boolean> {
  loading ??= apiJson<Language[]>("/v1/languages", key())
    .then((list) => {
      languages = list;
      picker.replaceChildren(
        ...list.map((l) => {
          const label = `${l.name}${l.version ? ` (${l.version})` : ""}${l.ready ? "" : " — not built yet"}`;
          return new Option(label, l.id);
        }),
      );
      hideMessage();
      const known = (id: string) => list.some((l) => l.id === id);
      if (shared && !known(shared.language)) {
        note.textContent = `This server has no language ${shared.language}: the link's program is ignored.`;
        shared = null;
      }
      switchTo(shared?.language ?? (known("python") ? "python" : list[0]!.id), shared?.source);
      if (shared) {
        stdinBox.value = shared.stdin;
        for (const t of shared.tests) addTest(t);
      }
      return true;
    })
    .catch((e) => {
      loading = null; // try again once there is a key, or the server is back
      showError(e);
      return false;
    });
  return loading;
}

async function share() {
  const s: Shared = { language: current, source: editor.text(), stdin: stdinBox.value, tests: readTests() };
  history.replaceState(null, "", `#${encodeShare(s)}`);
  try {
    await navigator.clipboard.writeText(location.href);
    note.textContent = "Link copied to the clipboard.";
  } catch {
    note.textContent = "The link is in the address bar (the clipboard is not available here).";
  }
}

// ---- wiring

keyBox.value = storage.get();
let keyTimer: ReturnType<typeof setTimeout> | undefined;
keyBox.addEventListener("input", () => {
  storage.set(key());
  clearTimeout(keyTimer);
  if (!current) keyTimer = setTimeout(loadLanguages, 300);
});
picker.addEventListener("change", () => switchTo(picker.value));
runButton.addEventListener("click", () => void run());
$("share").addEventListener("click", () => void share());
$("add-test").addEventListener("click", () => addTest().querySelector("textarea")!.focus());
// Capture: before CodeMirror, whose own Mod-Enter inserts a blank line.
window.addEventListener(
  "keydown",
  (e) => {
    if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey)) return;
    e.preventDefault();
    e.stopPropagation();
    void run();
  },
  true,
);

void loadLanguages();
