import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelope } from "./envelope.js";
import { bodySchema, type ChatMessage } from "./message.js";

const message: fc.Arbitrary<ChatMessage> = fc.record({
  room: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  id: fc.uuid(),
  cid: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
  from: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/),
  body: fc
    .string({ minLength: 1, maxLength: 500, unit: "binary" })
    .filter((text) => bodySchema.safeParse(text).success),
  ts: fc.nat(),
});

describe("Kafka envelope", () => {
  it("round-trips every message", () => {
    fc.assert(
      fc.property(message, (value) => {
        expect(decodeEnvelope(encodeEnvelope(value))).toEqual({ ok: true, message: value });
      }),
    );
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
      Buffer.from(JSON.stringify({ v: 2, room: "r", seq: 1, id: "i", cid: "c", from: "u", body: "b", ts: 1 })),
      "v:",
    ],
  ])("rejects %s", (_what, value, reason) => {
    const decoded = decodeEnvelope(value);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toContain(reason);
  });
});
