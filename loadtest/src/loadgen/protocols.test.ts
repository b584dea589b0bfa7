import { describe, expect, it } from "vitest";
import { parley } from "./parley.js";
import type { Protocol, ProtocolEvents } from "./protocol.js";
import { socketIo } from "./socketio.js";

/** Reads `frames` with `protocol` and lists the events they made. */
function read(protocol: Protocol, ...frames: string[]): unknown[] {
  const events: unknown[] = [];
  const sink: ProtocolEvents = {
    room: "r7",
    joined: () => events.push("joined"),
    message: (stamp) => events.push({ message: stamp }),
    ack: (cid) => events.push({ ack: cid }),
    error: (detail) => events.push({ error: detail }),
    reply: (frame) => events.push({ reply: frame }),
  };
  for (const frame of frames) protocol.read(frame, sink);
  return events;
}

describe("parley protocol", () => {
  it("joins on open, stamps the body and reads the core frames, ignoring the rest", () => {
    expect(parley.opened("r7", "u1")).toEqual(['{"t":"join","room":"r7"}']);
    expect(JSON.parse(parley.send("r7", "17", 1764600000000.5))).toEqual({
      t: "send",
      room: "r7",
      cid: "17",
      body: "1764600000000.5",
    });
    const msg = { t: "msg", room: "r7", seq: 3, id: "m", cid: "17", from: "u1", body: "1764600000000.5", ts: 1 };
    expect(
      read(
        parley,
        '{"t":"joined","room":"r7","seq":0}',
        JSON.stringify(msg),
        '{"t":"ack","room":"r7","cid":"17","seq":3,"id":"m"}',
        '{"t":"presence","room":"r7","users":[]}',
        '{"t":"persisted","room":"r7","upTo":3}',
        '{"t":"error","code":"rate_limited","cid":"18","message":"slow down"}',
      ),
    ).toEqual([
      "joined",
      { message: 1764600000000.5 },
      { ack: "17" },
      { error: '{"t":"error","code":"rate_limited","cid":"18","message":"slow down"}' },
    ]);
  });
});

describe("socket.io protocol", () => {
  it("connects to the namespace, joins once connected, answers pings and reads messages and acks", () => {
    expect(socketIo.opened("r7", "u1")).toEqual([]);
    expect(socketIo.send("r7", "17", 5.5)).toBe('4217["send",{"room":"r7","cid":"17","body":"5.5"}]');
    expect(
      read(
        socketIo,
        '0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}',
        '40{"sid":"b"}',
        "430[]",
        "2",
        '42["msg",{"room":"r7","id":"x","from":"u1","body":"5.5","ts":1}]',
        '4317[{"cid":"17","id":"x"}]',
        '44{"message":"nope"}',
      ),
    ).toEqual([
      { reply: "40" },
      { reply: '420["join","r7"]' },
      "joined",
      { reply: "3" },
      { message: 5.5 },
      { ack: "17" },
      { error: '44{"message":"nope"}' },
    ]);
  });
});
