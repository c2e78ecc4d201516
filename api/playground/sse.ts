/// <reference lib="dom" />
// Following a run to its result. EventSource cannot send an Authorization
// header, so the event stream is read with fetch and parsed here; if the
// stream cannot be had (or breaks), the run is polled instead.
import type { RunResult } from "../../core/schemas.js";
import { apiFetch, apiJson } from "./api-client.js";

export interface SseEvent {
  event: string;
  data: string;
}

const POLL_MS = 300;

/** The events of a text/event-stream body (the subset of the format the API sends: event, data, comments). */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  // A line's pieces until its newline arrives: a result of megabytes comes
  // in many chunks, and joining once keeps that linear.
  let pending: string[] = [];
  let event = "message";
  let data: string[] = [];
  try {
    for (;;) {
      const { value: bytes, done } = await reader.read();
      if (done) return;
      const text = decoder.decode(bytes, { stream: true });
      const parts = text.split("\n");
      if (parts.length === 1) {
        pending.push(text);
        continue;
      }
      parts[0] = pending.join("") + parts[0];
      pending = [parts.pop()!];
      for (const raw of parts) {
        const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
        if (line === "") {
          if (data.length) yield { event, data: data.join("\n") };
          event = "message";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue; // keepalive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const v = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = v;
        else if (field === "data") data.push(v);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

export async function followRun(id: string, key: string, onState: (status: string) => void): Promise<RunResult> {
  const path = `/v1/runs/${encodeURIComponent(id)}`;
  try {
    const res = await apiFetch(`${path}/events`, key, { headers: { Accept: "text/event-stream" } });
    if (res.ok && res.body) {
      for await (const e of sseEvents(res.body)) {
        if (e.event === "state") onState((JSON.parse(e.data) as { status: string }).status);
        else if (e.event === "result") return JSON.parse(e.data) as RunResult;
        else if (e.event === "error") break; // the run is gone: polling says so with the API's 404
      }
    } else await res.body?.cancel();
  } catch {
    // a network error or a broken stream: polling below
  }
  for (;;) {
    const r = await apiJson<RunResult>(path, key);
    onState(r.status);
    if (r.status === "completed") return r;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
