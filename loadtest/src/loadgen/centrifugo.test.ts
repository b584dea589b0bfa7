import { createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CENTRIFUGO_TOKEN_SECRET, centrifugo } from "./centrifugo.js";
import type { ProtocolEvents } from "./protocol.js";

type Event = readonly [keyof ProtocolEvents, ...(string | number)[]];

function read(frame: string): Event[] {
  const events: Event[] = [];
  centrifugo.read(frame, {
    room: "r-1",
    joined: () => events.push(["joined"]),
    message: (stamp) => events.push(["message", stamp]),
    ack: (cid) => events.push(["ack", cid]),
    error: (detail) => events.push(["error", detail]),
    reply: (frame) => events.push(["reply", frame]),
  });
  return events;
}

const CLIENT = '"info":{"user":"u96","client":"5bd6626b-2963-4472-a10e-14e5eaa2922f"}';
/** A publication push as Centrifugo v6.9.1 sends it, around the data a `send` frame carried. */
function publication(sent: string, offset = 1): string {
  const data = /"data":(\{[^}]*\})/.exec(sent)?.[1];
  return `{"push":{"channel":"chat:r-1","pub":{"data":${data},${CLIENT},"offset":${offset},"epoch":"zsOMtqQh"}}}`;
}

describe("centrifugo protocol", () => {
  it("connects with an HS256 token for the user and subscribes in the same frame", () => {
    const [frame, ...rest] = centrifugo.opened("r-1", "u7");
    expect(rest).toEqual([]);
    const [connect, subscribe] = (frame ?? "").split("\n").map((line) => JSON.parse(line));
    expect(subscribe).toEqual({ id: 2, subscribe: { channel: "chat:r-1" } });
    const [header, payload, signature] = connect.connect.token.split(".");
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).toEqual({ sub: "u7" });
    expect(signature).toBe(
      createHmac("sha256", CENTRIFUGO_TOKEN_SECRET).update(`${header}.${payload}`).digest("base64url"),
    );
  });

  it("reads the frames of a session as Centrifugo sends them", () => {
    expect(read('{"id":1,"connect":{"client":"c1","version":"6.9.1","ping":25,"pong":true}}')).toEqual([]);
    expect(
      read(
        '{"id":2,"subscribe":{"recoverable":true,"epoch":"vHCrVHee","positioned":true}}\n' +
          `{"push":{"channel":"chat:r-1","join":{${CLIENT}}}}`,
      ),
    ).toEqual([["joined"]]);
    expect(read(`${publication(centrifugo.send("r-1", "7", 1796135381043.0876))}\n{"id":7,"publish":{}}`)).toEqual([
      ["message", 1796135381043.0876],
      ["ack", "7"],
    ]);
    expect(read("{}")).toEqual([["reply", "{}"]]);
    const refused = '{"id":9,"error":{"code":103,"message":"permission denied"}}';
    expect(read(refused)).toEqual([["error", refused]]);
  });

  it("subscribes again when the server unsubscribes with a code that asks for it, without a second join", () => {
    const resubscribe = '{"id":3,"subscribe":{"channel":"chat:r-1"}}';
    expect(read('{"push":{"channel":"chat:r-1","unsubscribe":{"code":2500,"reason":"insufficient state"}}}')).toEqual([
      ["reply", resubscribe],
    ]);
    expect(read('{"push":{"channel":"chat:r-1","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}}')).toEqual(
      [],
    );
    expect(read('{"id":3,"subscribe":{"recoverable":true,"epoch":"vHCrVHee","positioned":true}}')).toEqual([]);
  });

  it("refuses a cid that cannot be a command id", () => {
    for (const cid of ["0", "01", "1.5", "abc", "4294967296", ""]) {
      expect(() => centrifugo.send("r-1", cid, 1)).toThrow(/command id/);
    }
    expect(() => centrifugo.send("r-1", "4294967295", 1)).not.toThrow();
  });

  it("reports every event of any batch, in order, with stamps and cids exact", () => {
    const line = fc.oneof(
      fc.double({ min: 0, max: 4e12, noNaN: true }).map((stamp) => ({
        line: publication(centrifugo.send("r-1", "1", stamp)),
        event: ["message", stamp] as Event,
      })),
      fc.integer({ min: 1, max: 0xffff_ffff }).map((id) => ({
        line: `{"id":${id},"publish":{}}`,
        event: ["ack", String(id)] as Event,
      })),
      fc.constant({ line: "{}", event: ["reply", "{}"] as Event }),
      fc.constant({ line: `{"push":{"channel":"chat:r-1","leave":{${CLIENT}}}}`, event: undefined }),
    );
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 8 }), (lines) => {
        const expected = lines.flatMap(({ event }) => (event ? [event] : []));
        expect(read(lines.map((l) => l.line).join("\n"))).toEqual(expected);
      }),
    );
  });
});
