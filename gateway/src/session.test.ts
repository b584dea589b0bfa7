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

  /** A gateway in-process on the reference Bus and Log, with a member `ann` joined to `lobby` who sent `count`. */
  async function withHistory(count: number) {
    const log = new MemoryLog();
    const bus = new MemoryBus({ listener: (event) => gateway.deliver(event) });
    const topics = new RecordingTopics();
    const gateway: Gateway = inProcessGateway({ bus, log, store: { history: async () => [] }, topics });
    const connect = (user: string) => {
      const socket = new RecordingSocket(topics);
      return { socket, session: gateway.open(socket, { user }) };
    };
    const ann = connect("ann");
    ann.session.text(JSON.stringify({ t: "join", room: "lobby" }));
    await waitFor(() => ann.socket.frames.some((frame) => frame.t === "joined"), "ann's joined");
    for (let i = 1; i <= count; i++)
      ann.session.text(JSON.stringify({ t: "send", room: "lobby", cid: `c${i}`, body: "x" }));
    await waitFor(() => ann.socket.frames.filter((frame) => frame.t === "ack").length === count, "the acks");
    return { connect, close: () => Promise.all([bus.close(), log.close()]) };
  }

  it("answers a join with since with joined (latest seq, recovered) and then the messages after since", async () => {
    const { connect, close } = await withHistory(3);
    const ben = connect("ben");
    ben.session.text(JSON.stringify({ t: "join", room: "lobby", since: 1 }));
    await waitFor(() => ben.socket.frames.some((frame) => frame.t === "presence"), "ben's join");
    const types = ben.socket.frames.map((frame) => (frame.t === "msg" ? `msg ${String(frame.seq)}` : frame.t));
    expect(types).toEqual(["joined", "msg 2", "msg 3", "presence"]);
    expect(ben.socket.frames[0]).toEqual({ t: "joined", room: "lobby", seq: 3, recovered: true });
    await close();
  });

  it.each([
    ["a join of another pair's direct room", { t: "join", room: "dm:bob:carol" }, { code: "forbidden" }],
    [
      "a send to a room not joined",
      { t: "send", room: "elsewhere", cid: "c9", body: "x" },
      { code: "not_joined", cid: "c9" },
    ],
    ["typing in a room not joined", { t: "typing", room: "elsewhere" }, { code: "not_joined" }],
  ])("answers %s with an error frame and goes on serving", async (_what, frame, error) => {
    const { connect, close } = await withHistory(0);
    const ben = connect("ben");
    ben.session.text(JSON.stringify(frame));
    await waitFor(() => ben.socket.frames.some((sent) => sent.t === "error"), "the error");
    expect(ben.socket.frames).toEqual([{ t: "error", message: expect.any(String), ...error }]);
    ben.session.text(JSON.stringify({ t: "ping" }));
    await waitFor(() => ben.socket.frames.some((sent) => sent.t === "pong"), "the pong");
    await close();
  });
});
