import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { FsObjectStore } from "@parley/files";
import { MemoryLog } from "@parley/log";
import { dmRoom } from "@parley/protocol";
import { createLogger } from "@parley/runtime";
import { createPgliteStore } from "@parley/store";
import { waitFor } from "@parley/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBus } from "./bus/memory-bus.js";
import { type FileSharing, FileSweeper, OBJECTS_PATH, typeAllowed } from "./files.js";
import type { Gateway } from "./gateway.js";
import { inProcessGateway, RecordingSocket, RecordingTopics, testRequest } from "./in-process.testing.js";
import type { HttpResponse } from "./server.js";

const PNG = Buffer.from("89504e470d0a1a0a0000000d49484452", "hex");
const HOUR = 3_600_000;

describe("file sharing", () => {
  let dir: string;
  let now = Date.now();
  let files: FileSharing;
  let gateway: Gateway;
  let store: Awaited<ReturnType<typeof createPgliteStore>>;
  const topics = new RecordingTopics();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "parley-files-"));
    store = await createPgliteStore();
    await store.migrate();
    const served = new FsObjectStore({ dir, basePath: OBJECTS_PATH, secret: "s", now: () => now });
    const limits = {
      maxBytes: 1000,
      perMessage: 2,
      types: ["image/*", "text/html"],
      urlSeconds: 60,
      unattachedSeconds: 3600,
    };
    files = { objects: served, served, store, limits, now: () => now };
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    gateway = inProcessGateway({ bus, log: new MemoryLog(), store, topics, files });
  }, 60_000); // PGlite's start and migrations take seconds, more beside the integration tests
  afterAll(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const json = (response: HttpResponse) => JSON.parse(String(response.body)) as Record<string, unknown>;
  const ask = (user: string, room: string, spec: object) =>
    gateway.http(
      testRequest("POST", `/api/rooms/${encodeURIComponent(room)}/files`, {
        query: { user },
        body: JSON.stringify(spec),
      }),
    );
  /** Asks for an upload and sends the bytes to the URL it got; resolves with the file's id. */
  const upload = async (user: string, room: string, name: string, type: string, bytes: Buffer) => {
    const granted = await ask(user, room, { name, size: bytes.length, type });
    expect(granted.status).toBe(201);
    const { id, upload: grant } = json(granted) as { id: string; upload: { url: string; headers: object } };
    const url = new URL(grant.url, "http://gateway");
    const put = await gateway.http({
      ...testRequest("PUT", url.pathname, { headers: { ...grant.headers } }),
      query: url.searchParams,
      body: Readable.from([bytes]),
    });
    expect(put.status).toBeLessThan(300);
    return id;
  };
  const download = (user: string, room: string, id: string) =>
    gateway.http(testRequest("GET", `/api/rooms/${encodeURIComponent(room)}/files/${id}`, { query: { user } }));
  const fetchUrl = (url: string) => {
    const parsed = new URL(url, "http://gateway");
    return gateway.http({ ...testRequest("GET", parsed.pathname), query: parsed.searchParams });
  };
  const connect = async (user: string, room: string) => {
    const socket = new RecordingSocket(topics);
    const session = gateway.open(socket, { user, admin: false });
    session.text(JSON.stringify({ t: "join", room }));
    await waitFor(() => socket.frames.some((frame) => frame.t === "joined"), `${user}'s join`);
    const answer = async (frame: object) => {
      const before = socket.frames.length;
      session.text(JSON.stringify(frame));
      return waitFor(
        () => socket.frames.slice(before).find((sent) => sent.t === "ack" || sent.t === "error"),
        `the answer to ${JSON.stringify(frame)}`,
      );
    };
    return { socket, answer };
  };

  it("shares a file in a DM: uploaded by one, sent, and fetched by the other, never by a third user", async () => {
    const room = dmRoom("ann", "ben");
    const id = await upload("ann", room, "cat.png", "image/png", PNG);
    const ann = await connect("ann", room);
    const ben = await connect("ben", room);
    // Before a message carries it, only its uploader sees it.
    expect((await download("ben", room, id)).status).toBe(404);

    const attachments = [{ id, name: "renamed.exe", size: 1, type: "text/html" }];
    expect(await ann.answer({ t: "send", room, cid: "c1", attachments })).toMatchObject({ t: "ack" });
    // The message carries the file as it was uploaded, whatever the client repeated.
    const msg = await waitFor(() => ben.socket.frames.find((frame) => frame.t === "msg"), "ben's msg");
    expect(msg).toMatchObject({
      body: "",
      attachments: [{ id, name: "cat.png", size: PNG.length, type: "image/png" }],
    });
    // A retry with the same cid passes; another message cannot take the file.
    expect(await ann.answer({ t: "send", room, cid: "c1", attachments })).toMatchObject({ t: "ack" });
    expect(await ann.answer({ t: "send", room, cid: "c2", body: "again", attachments })).toMatchObject({
      t: "error",
      code: "bad_request",
      cid: "c2",
    });

    const granted = await download("ben", room, id);
    expect(granted.status).toBe(200);
    const fetched = await fetchUrl(String(json(granted).url));
    expect(fetched.status).toBe(200);
    expect(Buffer.from(fetched.body as Uint8Array)).toEqual(PNG);
    expect(fetched.headers).toMatchObject({ "content-type": "image/png", "x-content-type-options": "nosniff" });

    expect((await download("mallory", room, id)).status).toBe(403);
    expect((await download("ben", "lobby", id)).status).toBe(404);
    // An expired download URL is refused.
    now += HOUR;
    expect((await fetchUrl(String(json(granted).url))).status).toBe(403);
  });

  it("serves an HTML file as a download, never as a page", async () => {
    const id = await upload("ann", "lobby", "page.html", "text/html", Buffer.from("<script>alert(1)</script>"));
    const fetched = await fetchUrl(String(json(await download("ann", "lobby", id)).url));
    expect(fetched.headers).toMatchObject({ "content-type": "application/octet-stream" });
    expect(String(fetched.headers?.["content-disposition"])).toMatch(/^attachment; filename="page.html"/);
  });

  it.each([
    ["a file over the size limit", { name: "big.png", size: 1001, type: "image/png" }, 413, "too_large"],
    ["a type not allowed", { name: "a.pdf", size: 10, type: "application/pdf" }, 415, "bad_request"],
    ["a name with a path", { name: "../a.png", size: 10, type: "image/png" }, 400, "bad_request"],
    ["a size that is no number", { name: "a.png", size: "10", type: "image/png" }, 400, "bad_request"],
  ])("refuses an upload of %s with %s, recording nothing", async (_what, spec, status, code) => {
    const response = await ask("ann", "lobby", spec);
    expect(response.status).toBe(status);
    expect(json(response)).toMatchObject({ code });
    expect(response).not.toHaveProperty("upload");
  });

  it("refuses an upload of more bytes than granted before storing any", async () => {
    const granted = json(await ask("ann", "lobby", { name: "a.png", size: 4, type: "image/png" }));
    const { url, headers } = granted.upload as { url: string; headers: Record<string, string> };
    const parsed = new URL(url, "http://gateway");
    const put = await gateway.http({
      ...testRequest("PUT", parsed.pathname, { headers: { ...headers, "content-length": "8" } }),
      query: parsed.searchParams,
      body: Readable.from([Buffer.alloc(8)]),
    });
    expect(put.status).toBe(413);
    expect(await files.objects.stat(String(granted.id))).toBeUndefined();
  });

  it.each([
    ["a file not uploaded yet", "bad_request"],
    ["another user's file", "not_found"],
    ["more files than a message may carry", "bad_request"],
  ])("answers a send naming %s with %s", async (what, code) => {
    const room = "lobby";
    const mine = await upload("ann", room, "a.png", "image/png", PNG);
    const bens = await upload("ben", room, "b.png", "image/png", PNG);
    const pending = String(json(await ask("ann", room, { name: "c.png", size: 4, type: "image/png" })).id);
    const named = { "a file not uploaded yet": [pending], "another user's file": [bens] }[what] ?? [mine, mine, bens];
    const ann = await connect("ann", room);
    const attachments = named.map((id) => ({ id, name: "x.png", size: 1, type: "image/png" }));
    expect(await ann.answer({ t: "send", room, cid: `x-${what.length}`, body: "x", attachments })).toMatchObject({
      t: "error",
      code,
    });
  });

  it("sweeps uploads no message carries after the grace period, and the files of deleted messages", async () => {
    const room = "sweep";
    const unsent = await upload("ann", room, "a.png", "image/png", PNG);
    const sent = await upload("ann", room, "b.png", "image/png", PNG);
    await store.insert([
      {
        room,
        seq: 1,
        id: "m1",
        cid: "m1",
        from: "ann",
        body: "",
        ts: now,
        attachments: [{ id: sent, name: "b.png", size: PNG.length, type: "image/png" }],
      },
      { kind: "delete", room, seq: 2, id: "d1", cid: "d1", from: "ann", ts: now, target: 1 },
    ]);
    const sweeper = new FileSweeper(files, createLogger("parley-test", "silent"));
    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1);
    expect(await files.objects.stat(sent)).toBeUndefined();
    expect(await files.objects.stat(unsent)).toEqual({ size: PNG.length });
    expect((await download("ann", room, sent)).status).toBe(410);

    now += 2 * HOUR;
    await sweeper.sweep();
    expect(await files.objects.stat(unsent)).toBeUndefined();
    expect((await download("ann", room, unsent)).status).toBe(404);
  });

  it("matches allowed types exactly or by family", () => {
    expect(typeAllowed("image/png", [])).toBe(true);
    expect(typeAllowed("image/png", ["image/*"])).toBe(true);
    expect(typeAllowed("image/png", ["image/jpeg"])).toBe(false);
    expect(typeAllowed("text/plain", ["image/*", "text/plain"])).toBe(true);
  });
});
