import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { body, cid, emoji, room, seq } from "./arbitraries.testing.js";
import { ErrorCode } from "./codes.js";
import {
  type ClientFrame,
  decodeClientFrame,
  decodeServerFrame,
  encodeServerFrame,
  type ServerFrame,
} from "./frames.js";
import { MAX_BODY_LENGTH } from "./message.js";
import { dmRoom, isRoomName, mayAccess } from "./rooms.js";

const clientFrame: fc.Arbitrary<ClientFrame> = fc.oneof(
  fc.record({ t: fc.constant("join" as const), room }, { requiredKeys: ["t", "room"] }),
  fc.record({ t: fc.constant("join" as const), room, since: fc.nat() }),
  fc.record({ t: fc.constant("read" as const), room, seq: fc.nat() }),
  fc.record({ t: fc.constant("leave" as const), room }),
  fc.record(
    { t: fc.constant("send" as const), room, cid, body, replyTo: seq },
    { requiredKeys: ["t", "room", "cid", "body"] },
  ),
  fc.record({ t: fc.constant("edit" as const), room, seq, body, cid }, { requiredKeys: ["t", "room", "seq", "body"] }),
  fc.record({ t: fc.constant("delete" as const), room, seq, cid }, { requiredKeys: ["t", "room", "seq"] }),
  fc.record(
    { t: fc.constant("react" as const), room, seq, emoji, on: fc.boolean(), cid },
    { requiredKeys: ["t", "room", "seq", "emoji", "on"] },
  ),
  fc.record({ t: fc.constant("typing" as const), room }),
  fc.constant({ t: "ping" as const }),
);

describe("decodeClientFrame", () => {
  it("decodes every valid frame to itself", () => {
    fc.assert(
      fc.property(clientFrame, (frame) => {
        expect(decodeClientFrame(JSON.stringify(frame))).toEqual({ ok: true, value: frame });
      }),
    );
  });

  it("never throws, whatever the text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.json()), (text) => {
        const decoded = decodeClientFrame(text);
        if (!decoded.ok) expect(Object.values(ErrorCode)).toContain(decoded.code);
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects any JSON value that is not a frame with bad_request", () => {
    fc.assert(
      fc.property(
        fc.jsonValue().filter((value) => !(typeof value === "object" && value !== null && "t" in value)),
        (value) => {
          expect(decodeClientFrame(JSON.stringify(value))).toMatchObject({ ok: false, code: ErrorCode.BadRequest });
        },
      ),
    );
  });

  it("rejects invalid room names and keeps the cid of a send", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }).filter((value) => !isRoomName(value)),
        cid,
        (badRoom, id) => {
          expect(decodeClientFrame(JSON.stringify({ t: "send", room: badRoom, cid: id, body: "x" }))).toMatchObject({
            ok: false,
            code: ErrorCode.BadRequest,
            cid: id,
          });
        },
      ),
    );
  });

  it.each([
    ["not JSON", "hello", ErrorCode.BadRequest],
    ["an unknown type", '{"t":"explode"}', ErrorCode.BadRequest],
    ["a send without cid", '{"t":"send","room":"r","body":"x"}', ErrorCode.BadRequest],
    ["a room of the wrong type", '{"t":"join","room":5}', ErrorCode.BadRequest],
    ["a negative since", '{"t":"join","room":"r","since":-1}', ErrorCode.BadRequest],
    ["a fractional since", '{"t":"join","room":"r","since":1.5}', ErrorCode.BadRequest],
    ["an empty body", '{"t":"send","room":"r","cid":"c","body":""}', ErrorCode.BadRequest],
    ["an unsorted DM room", '{"t":"join","room":"dm:bob:alice"}', ErrorCode.BadRequest],
    ["a DM with oneself", '{"t":"join","room":"dm:bob:bob"}', ErrorCode.BadRequest],
    ["a body with NUL", '{"t":"send","room":"r","cid":"c","body":"a\\u0000b"}', ErrorCode.BadRequest],
    ["a body with a lone surrogate", '{"t":"send","room":"r","cid":"c","body":"\\ud800"}', ErrorCode.BadRequest],
    ["a cid with spaces", '{"t":"send","room":"r","cid":"a b","body":"x"}', ErrorCode.BadRequest],
    ["a reply to seq 0", '{"t":"send","room":"r","cid":"c","body":"x","replyTo":0}', ErrorCode.BadRequest],
    ["an edit without a seq", '{"t":"edit","room":"r","body":"x"}', ErrorCode.BadRequest],
    ["an edit to an empty body", '{"t":"edit","room":"r","seq":1,"body":""}', ErrorCode.BadRequest],
    ["a delete of seq 0", '{"t":"delete","room":"r","seq":0}', ErrorCode.BadRequest],
    ["a reaction that is a word", '{"t":"react","room":"r","seq":1,"emoji":"like","on":true}', ErrorCode.BadRequest],
    ["a reaction of two emoji", '{"t":"react","room":"r","seq":1,"emoji":"👍👍","on":true}', ErrorCode.BadRequest],
    ["a reaction without on", '{"t":"react","room":"r","seq":1,"emoji":"👍"}', ErrorCode.BadRequest],
    ["a shortcode with capitals", '{"t":"react","room":"r","seq":1,"emoji":":Tada:","on":true}', ErrorCode.BadRequest],
    [
      "an edit over the limit",
      JSON.stringify({ t: "edit", room: "r", seq: 1, body: "x".repeat(MAX_BODY_LENGTH + 1) }),
      ErrorCode.TooLarge,
    ],
    [
      "a body over the limit",
      JSON.stringify({ t: "send", room: "r", cid: "c", body: "x".repeat(MAX_BODY_LENGTH + 1) }),
      ErrorCode.TooLarge,
    ],
  ])("answers %s with %s", (_what, text, code) => {
    expect(decodeClientFrame(text)).toMatchObject({ ok: false, code });
  });

  it("limits bodies in UTF-16 code units, so a character outside the BMP counts twice", () => {
    // Bodies of one to four thousand-odd characters mixing ASCII, BMP and astral ones (emoji are two units each).
    const character = fc.oneof(fc.constant("x"), fc.constant("é"), fc.constant("😀"), fc.constant("𝄞"));
    fc.assert(
      fc.property(fc.array(character, { minLength: 1, maxLength: MAX_BODY_LENGTH + 10 }), (characters) => {
        const body = characters.join("");
        const decoded = decodeClientFrame(JSON.stringify({ t: "send", room: "r", cid: "c", body }));
        if (body.length <= MAX_BODY_LENGTH) expect(decoded).toMatchObject({ ok: true, value: { body } });
        else expect(decoded).toMatchObject({ ok: false, code: ErrorCode.TooLarge, cid: "c" });
      }),
      { numRuns: 200 },
    );
    const emoji = (count: number) => JSON.stringify({ t: "send", room: "r", cid: "c", body: "😀".repeat(count) });
    expect(decodeClientFrame(emoji(MAX_BODY_LENGTH / 2))).toMatchObject({ ok: true });
    expect(decodeClientFrame(emoji(MAX_BODY_LENGTH / 2 + 1))).toMatchObject({ ok: false, code: ErrorCode.TooLarge });
  });
});

describe("server frames", () => {
  it("decode what the server encodes", () => {
    const frames: ServerFrame[] = [
      { t: "joined", room: "lobby", seq: 3, recovered: true },
      { t: "msg", room: "lobby", seq: 1, id: "m1", cid: "c1", from: "alice", body: "hi", ts: 1 },
      { t: "ack", room: "lobby", cid: "c1", seq: 1, id: "m1" },
      { t: "error", code: ErrorCode.NotJoined, cid: "c1", message: "join first" },
      { t: "persisted", room: "lobby", upTo: 1 },
      { t: "read", room: "dm:alice:bob", user: "bob", seq: 4 },
      { t: "pong" },
    ];
    for (const frame of frames) expect(decodeServerFrame(encodeServerFrame(frame))).toEqual({ ok: true, value: frame });
  });
});

describe("rooms", () => {
  it("open a DM to its two members only", () => {
    expect(mayAccess("alice", dmRoom("bob", "alice"))).toBe(true);
    expect(mayAccess("bob", "dm:alice:bob")).toBe(true);
    expect(mayAccess("carol", "dm:alice:bob")).toBe(false);
    expect(mayAccess("carol", "lobby")).toBe(true);
  });
});
