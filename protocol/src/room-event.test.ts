import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { roomEvent } from "./arbitraries.testing.js";
import { decodeServerFrame, encodeServerFrame } from "./frames.js";
import { eventFrame, eventOfFrame, framePieces } from "./room-event.js";

describe("room events on the wire", () => {
  it("travel as frames that decode back to the same event", () => {
    fc.assert(
      fc.property(roomEvent, (event) => {
        const decoded = decodeServerFrame(encodeServerFrame(eventFrame(event)));
        expect(decoded.ok).toBe(true);
        if (decoded.ok) expect(eventOfFrame(decoded.value)).toEqual(event);
      }),
    );
  });

  it("split around their seq exactly where the Bus writes it in", () => {
    fc.assert(
      fc.property(roomEvent, (event) => {
        const { seq, ...unsequenced } = event;
        const { prefix, suffix } = framePieces(unsequenced);
        expect(`${prefix}${seq}${suffix}`).toBe(encodeServerFrame(eventFrame(event)));
      }),
    );
  });

  it("use the frames of the protocol: the changed message in seq, the event's own seq in at", () => {
    const base = { room: "lobby", id: "e1", cid: "c9", from: "alice", ts: 7 };
    expect(eventFrame({ ...base, seq: 9, kind: "edit", target: 3, body: "fixed" })).toEqual({
      t: "edited",
      room: "lobby",
      at: 9,
      seq: 3,
      id: "e1",
      cid: "c9",
      from: "alice",
      body: "fixed",
      editedAt: 7,
    });
    expect(eventFrame({ ...base, seq: 10, kind: "delete", target: 3 })).toMatchObject({
      t: "deleted",
      seq: 3,
      by: "alice",
    });
    expect(eventFrame({ ...base, seq: 11, kind: "react", target: 3, emoji: "👍", on: true })).toMatchObject({
      t: "reaction",
      seq: 3,
      user: "alice",
      emoji: "👍",
      on: true,
    });
  });
});
