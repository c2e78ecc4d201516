// api/body.ts: a POST's body read from Node's request with its cap. An
// upload the client gives up must end the read (else its handler, context
// and socket are held for good).
import { PassThrough } from "node:stream";
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { readCapped } from "../../api/body.js";

const request = () => new PassThrough() as unknown as IncomingMessage & PassThrough;

describe("readCapped", () => {
  it("gives the whole body, in order, at its end", async () => {
    const r = request();
    const body = readCapped(r, 10);
    r.write("abc");
    r.end("def");
    expect((await body)?.toString()).toBe("abcdef");
  });

  it("gives null past the cap, without waiting for the rest", async () => {
    const r = request();
    const body = readCapped(r, 4);
    r.write("abcdef"); // no end: the client is still sending
    expect(await body).toBeNull();
  });

  it("gives null for a client that went away, before or during the read", async () => {
    const gone = request();
    gone.destroy();
    expect(await readCapped(gone, 10)).toBeNull();
    const midway = request();
    const body = readCapped(midway, 10);
    midway.write("abc");
    midway.destroy();
    expect(await body).toBeNull();
  });
});
