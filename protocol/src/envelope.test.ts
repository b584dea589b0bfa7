import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { message, roomEvent } from "./arbitraries.testing.js";
import { decodeEnvelope, encodeEnvelope } from "./envelope.js";

describe("Kafka envelope", () => {
  it("round-trips every event", () => {
    fc.assert(
      fc.property(roomEvent, (value) => {
        expect(decodeEnvelope(encodeEnvelope(value))).toEqual({ ok: true, event: value });
      }),
    );
  });

  it("writes a plain message as version 1, which a persister from before version 2 reads", () => {
    fc.assert(
      fc.property(message, ({ replyTo: _replyTo, attachments: _attachments, ...plain }) => {
        expect(JSON.parse(encodeEnvelope(plain).toString())).toEqual({ v: 1, ...plain });
      }),
    );
    const reply = { room: "r", seq: 2, id: "i", cid: "c", from: "u", body: "b", ts: 1, replyTo: 1 };
    expect(JSON.parse(encodeEnvelope(reply).toString())).toEqual({ v: 2, kind: "msg", ...reply });
  });

  it("writes a message with attachments as version 3, and only such a message", () => {
    const attachments = [{ id: "f1", name: "cat.png", size: 3, type: "image/png" }];
    const sent = { room: "r", seq: 2, id: "i", cid: "c", from: "u", body: "", ts: 1, replyTo: 1, attachments };
    expect(JSON.parse(encodeEnvelope(sent).toString())).toEqual({ v: 3, kind: "msg", ...sent });
    const { attachments: _attachments, ...reply } = sent;
    expect(JSON.parse(encodeEnvelope({ ...reply, body: "b" }).toString()).v).toBe(2);
  });

  it("still decodes records written before version 2", () => {
    const record = { v: 1, room: "r", seq: 1, id: "i", cid: "c", from: "u", body: "b", ts: 1 };
    const { v: _v, ...message } = record;
    expect(decodeEnvelope(Buffer.from(JSON.stringify(record)))).toEqual({ ok: true, event: message });
  });

  it("never throws on arbitrary bytes and explains what is wrong", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const decoded = decodeEnvelope(bytes);
        if (!decoded.ok) expect(decoded.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it.each([
    ["no value", null, "record has no value"],
    ["garbage", Buffer.from("not json"), "value is not valid JSON"],
    [
      "an unknown version",
      Buffer.from(JSON.stringify({ v: 4, room: "r", seq: 1, id: "i", cid: "c", from: "u", body: "b", ts: 1 })),
      "v: unknown version 4",
    ],
    [
      "a version 3 record without attachments",
      Buffer.from(
        JSON.stringify({ v: 3, kind: "msg", room: "r", seq: 1, id: "i", cid: "c", from: "u", body: "b", ts: 1 }),
      ),
      "attachments:",
    ],
    [
      "an attachment named with a path",
      Buffer.from(
        JSON.stringify({
          v: 3,
          kind: "msg",
          room: "r",
          seq: 1,
          id: "i",
          cid: "c",
          from: "u",
          body: "b",
          ts: 1,
          attachments: [{ id: "f1", name: "../../etc/passwd", size: 1, type: "text/plain" }],
        }),
      ),
      "attachments.0.name:",
    ],
    [
      "an unknown kind",
      Buffer.from(JSON.stringify({ v: 2, kind: "pin", room: "r", seq: 2, id: "i", cid: "c", from: "u", ts: 1 })),
      "kind:",
    ],
    [
      "a reaction with a word for an emoji",
      Buffer.from(
        JSON.stringify({
          v: 2,
          kind: "react",
          room: "r",
          seq: 2,
          id: "i",
          cid: "c",
          from: "u",
          ts: 1,
          target: 1,
          emoji: "yes",
          on: true,
        }),
      ),
      "emoji:",
    ],
  ])("rejects %s", (_what, value, reason) => {
    const decoded = decodeEnvelope(value);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toContain(reason);
  });
});
