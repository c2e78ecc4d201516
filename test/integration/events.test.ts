// GET /v1/runs/{id}/events through HTTP: a run's states as they change, then
// its result, then the end of the stream; a 404 for an unknown run.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../helpers/service.js";

/** The events of a whole stream, as [event, parsed data] pairs. */
async function readEvents(url: string): Promise<[string, any][]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const text = await res.text(); // the server ends the stream after the result
  return text
    .split("\n\n")
    .filter((b) => b.includes("data:"))
    .map((b) => {
      const field = (k: string) =>
        b
          .split("\n")
          .find((l) => l.startsWith(`${k}:`))
          ?.slice(k.length + 1)
          .trim() ?? "";
      return [field("event"), JSON.parse(field("data"))];
    });
}

describe("Server-Sent Events of a run", () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ worker: "none" });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it("sends queued, then running, then the result, and ends", async () => {
    const post = await s.post("/v1/runs", {
      language: "python",
      source: "import time\ntime.sleep(0.5)\nprint('hi')\n",
    });
    const { id } = post.json;
    const events = readEvents(`${s.base}/v1/runs/${id}/events`);
    // The run waits for a worker: the stream says queued first.
    await new Promise((r) => setTimeout(r, 300));
    const w = await s.startInProcessWorker();
    const got = await events;
    expect(got.map(([e, d]) => [e, d.status])).toEqual([
      ["state", "queued"],
      ["state", "running"],
      ["result", "completed"],
    ]);
    const [, result] = got[2]!;
    expect(result).toMatchObject({ id, verdict: "ok", run: { stdout: "hi\n" } });
    expect(result).toEqual((await s.get(`/v1/runs/${id}`)).json);
    // A finished run's stream is its result at once.
    expect((await readEvents(`${s.base}/v1/runs/${id}/events`)).map(([e]) => e)).toEqual(["result"]);
    await w.close();
  });

  it("keeps at most 512 streams open, and frees a stream's place when its client goes", async () => {
    const { id } = (await s.post("/v1/runs", { language: "bash", source: "true" })).json; // stays queued: no worker
    const clients = Array.from({ length: 512 }, () => new AbortController());
    const opened = await Promise.all(clients.map((a) => fetch(`${s.base}/v1/runs/${id}/events`, { signal: a.signal })));
    expect(opened.every((r) => r.status === 200)).toBe(true);
    const over = await s.get(`/v1/runs/${id}/events`);
    expect(over.status).toBe(429);
    expect(over.json.error).toMatch(/512 event streams are open/);
    for (const a of clients) a.abort();
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      again = await fetch(`${s.base}/v1/runs/${id}/events`);
      if (again.status !== 200) await again.body?.cancel();
    }
    expect(again?.status).toBe(200);
    await again?.body?.cancel();
  });

  it("answers 404 for a run it does not know", async () => {
    const r = await s.get("/v1/runs/00000000-0000-4000-8000-000000000000/events");
    expect(r.status).toBe(404);
    expect(r.json.error).toMatch(/no run/);
  });
});
