import { MemoryLog } from "@parley/log";
import type { ChatMessage } from "@parley/protocol";
import { waitFor } from "@parley/testkit";
import { describe, expect, it } from "vitest";
import { messageEvent } from "./bus/bus-event.js";
import { MemoryBus } from "./bus/memory-bus.js";
import type { Gateway } from "./gateway.js";
import { inProcessGateway, RecordingSocket, RecordingTopics } from "./in-process.testing.js";

describe("ClientSession", () => {
  it("delivers a message the join's replay carried only once, even when the subscription brings it after the join", async () => {
    const log = new MemoryLog();
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({ bus, log, store: { history: async () => [] }, topics });
    const writerSocket = new RecordingSocket(topics);
    const writer = gateway.open(writerSocket, { user: "ann" });
    writer.text(JSON.stringify({ t: "join", room: "lobby" }));
    await waitFor(() => writerSocket.frames.some((frame) => frame.t === "joined"), "the writer's joined");
    for (const cid of ["c1", "c2", "c3"]) writer.text(JSON.stringify({ t: "send", room: "lobby", cid, body: cid }));
    await waitFor(() => writerSocket.frames.filter((frame) => frame.t === "ack").length === 3, "three acks");

    const readerSocket = new RecordingSocket(topics);
    const reader = gateway.open(readerSocket, { user: "ben" });
    reader.text(JSON.stringify({ t: "join", room: "lobby", since: 1 }));
    await waitFor(() => readerSocket.frames.some((frame) => frame.t === "presence"), "the reader's join");
    const seqs = () => readerSocket.frames.flatMap((frame) => (frame.t === "msg" ? [frame.seq] : []));
    expect(seqs()).toEqual([2, 3]);
    // With Redis, pub/sub and the join's reads use separate connections: seq 3 may arrive only now.
    const { t: _t, ...third } = readerSocket.frames.find((frame) => frame.t === "msg" && frame.seq === 3) as {
      t: "msg";
    } & ChatMessage;
    gateway.deliver(messageEvent(third));
    writer.text(JSON.stringify({ t: "send", room: "lobby", cid: "c4", body: "c4" }));
    await waitFor(() => seqs().includes(4), "the next message");
    expect(seqs()).toEqual([2, 3, 4]);
    writer.closed(1000);
    reader.closed(1000);
    await bus.close();
    await log.close();
  });
});
