import { randomUUID } from "node:crypto";
import type { ChatMessage } from "@parley/protocol";
import { uniqueName, waitFor } from "@parley/testkit";
import { Stack } from "@parley/testkit/stack";
import type { TestClient } from "@parley/testkit/ws-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const RECENT_LIMIT = 10;
const MAX_REPLAY = 40;

/** Recovery on join (Redis buffer, then the Store) and the history API, on the real stack. */
describe("recovery and history", () => {
  let stack: Stack;
  let writer: TestClient;

  beforeAll(async () => {
    stack = await Stack.start({
      gateways: 2,
      gatewayEnv: {
        PARLEY_RECENT_LIMIT: String(RECENT_LIMIT),
        PARLEY_MAX_REPLAY: String(MAX_REPLAY),
        PARLEY_RATE_PER_SECOND: "10000",
        PARLEY_RATE_BURST: "10000",
      },
    });
    writer = await gateway(0).connect("writer");
  });
  afterAll(async () => {
    writer?.close();
    await stack?.stop();
  });

  function gateway(index: number) {
    const found = stack.gateways[index];
    if (!found) throw new Error(`no gateway ${index}`);
    return found;
  }

  /** A room with `count` messages, all persisted (the watermark says so). */
  async function roomWith(count: number): Promise<string> {
    const room = uniqueName("room");
    await writer.join(room);
    const from = writer.frames.length;
    await Promise.all(
      Array.from({ length: count }, (_, index) => writer.sendUntilAcked(room, randomUUID(), `m${index}`)),
    );
    await writer.next("persisted", (frame) => frame.room === room && frame.upTo === count, { from, timeoutMs: 30_000 });
    return room;
  }

  const seqsOf = (messages: readonly ChatMessage[]) => messages.map((message) => message.seq);
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);

  it("replays from the recent buffer when it reaches back far enough", async () => {
    const room = await roomWith(25);
    const reader = await gateway(1).connect("reader");
    expect(await reader.join(room, 20)).toMatchObject({ seq: 25, recovered: true });
    await waitFor(() => reader.messages(room).length === 5, "the replay");
    expect(seqsOf(reader.messages(room))).toEqual(range(21, 25));
    reader.close();
  });

  it("replays from the Store beyond the buffer, merged without gaps or duplicates", async () => {
    const room = await roomWith(35);
    const reader = await gateway(1).connect("reader");
    expect(await reader.join(room, 3)).toMatchObject({ seq: 35, recovered: true });
    await waitFor(() => reader.messages(room).length === 32, "the replay");
    expect(seqsOf(reader.messages(room))).toEqual(range(4, 35));
    reader.close();
  });

  it("replays only the newest messages to a client too far behind, and says recovery is incomplete", async () => {
    const room = await roomWith(MAX_REPLAY + 10);
    const reader = await gateway(1).connect("reader");
    expect(await reader.join(room, 0)).toMatchObject({ seq: MAX_REPLAY + 10, recovered: false });
    await waitFor(() => reader.messages(room).length === MAX_REPLAY, "the replay");
    expect(seqsOf(reader.messages(room))).toEqual(range(11, MAX_REPLAY + 10));
    reader.close();
  });

  it("misses nothing published while a join replays, and keeps seq order", async () => {
    const room = await roomWith(30);
    const reader = await gateway(1).connect("reader");
    const flood = Array.from({ length: 200 }, () => randomUUID());
    for (const cid of flood) writer.send({ t: "send", room, cid, body: "during the join" });
    const joined = await reader.join(room, 0);
    await waitFor(() => reader.messages(room).at(-1)?.seq === 230, "the flood");
    const seqs = seqsOf(reader.messages(room));
    // Everything after `joined.seq` arrives live, each once and in order, right behind the replay.
    expect(seqs.filter((seq) => seq > joined.seq)).toEqual(range(joined.seq + 1, 230));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // The replay itself is gap-free whenever the gateway says so; while the persister lags behind the flood, the
    // Store may not yet hold what the recent buffer no longer does, and then it says recovered: false.
    if (joined.recovered) expect(seqs).toEqual(range(seqs[0] ?? 0, 230));
    reader.close();
  });

  it("replays again on a join of a room already joined, so a client can fill a gap without leaving", async () => {
    const room = await roomWith(12);
    const reader = await gateway(1).connect("reader");
    await reader.join(room);
    const from = reader.frames.length;
    expect(await reader.join(room, 8)).toMatchObject({ seq: 12, recovered: true });
    await waitFor(() => reader.messages(room).length === 4, "the replay");
    expect(seqsOf(reader.frames.slice(from).filter((frame) => frame.t === "msg") as ChatMessage[])).toEqual(
      range(9, 12),
    );
    reader.close();
  });

  it("pages the whole history exactly once with nextBefore", async () => {
    const room = await roomWith(50);
    const seen: number[] = [];
    let before: number | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const query = `user=reader&limit=7${before === undefined ? "" : `&before=${before}`}`;
      const response = await gateway(1).fetch(`/api/rooms/${room}/messages?${query}`);
      expect(response.status).toBe(200);
      const page = (await response.json()) as { messages: ChatMessage[]; nextBefore?: number };
      expect(seqsOf(page.messages)).toEqual([...seqsOf(page.messages)].sort((a, b) => a - b));
      seen.unshift(...seqsOf(page.messages));
      if (page.nextBefore === undefined) break;
      before = page.nextBefore;
    }
    expect(seen).toEqual(range(1, 50));
  });
});
