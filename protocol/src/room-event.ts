import { encodeServerFrame, type ServerFrame } from "./frames.js";
import type { RoomEvent } from "./message.js";

/** The server frames that carry a room's sequenced events. */
export type EventFrame = Extract<ServerFrame, { t: "msg" | "edited" | "deleted" | "reaction" }>;

/** An event before the Bus gave it its seq. */
export type UnsequencedEvent = RoomEvent extends infer E ? (E extends RoomEvent ? Omit<E, "seq"> : never) : never;

/** The frame members receive for `event`: `msg` with the message itself, the others with `at` for their own seq. */
export function eventFrame(event: RoomEvent): EventFrame {
  if (!("kind" in event)) {
    const { room, seq, id, cid, from, body, ts, replyTo, attachments } = event;
    return {
      t: "msg",
      room,
      seq,
      id,
      cid,
      from,
      body,
      ts,
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(attachments === undefined ? {} : { attachments }),
    };
  }
  const { room, seq: at, target: seq, id, cid, from, ts } = event;
  switch (event.kind) {
    case "edit":
      return { t: "edited", room, at, seq, id, cid, from, body: event.body, editedAt: ts };
    case "delete":
      return { t: "deleted", room, at, seq, id, cid, by: from, ts };
    case "react":
      return { t: "reaction", room, at, seq, id, cid, user: from, emoji: event.emoji, on: event.on, ts };
  }
}

const FRAME_TYPES = { edit: "edited", delete: "deleted", react: "reaction" } as const;

/** The `t` of the frame that carries `event`. */
export function frameType(event: RoomEvent): EventFrame["t"] {
  return "kind" in event ? FRAME_TYPES[event.kind] : "msg";
}

/** The event an event frame carries; `undefined` for every other frame. */
export function eventOfFrame(frame: ServerFrame): RoomEvent | undefined {
  switch (frame.t) {
    case "msg": {
      const { t: _t, ...message } = frame;
      return message;
    }
    case "edited": {
      const { room, at, seq, id, cid, from, body, editedAt } = frame;
      return { kind: "edit", room, seq: at, target: seq, id, cid, from, body, ts: editedAt };
    }
    case "deleted": {
      const { room, at, seq, id, cid, by, ts } = frame;
      return { kind: "delete", room, seq: at, target: seq, id, cid, from: by, ts };
    }
    case "reaction": {
      const { room, at, seq, id, cid, user, emoji, on, ts } = frame;
      return { kind: "react", room, seq: at, target: seq, id, cid, from: user, emoji, on, ts };
    }
    default:
      return undefined;
  }
}

/** `event` with the seq the Bus assigned it. */
export function sequenced(event: UnsequencedEvent, seq: number): RoomEvent {
  return { ...event, seq };
}

/**
 * The event's frame split around its seq (`prefix + seq + suffix` is the JSON of the frame), so the Bus can have the
 * seq written in where it is assigned (Redis's Lua script) without encoding anything there.
 */
export function framePieces(event: UnsequencedEvent): { readonly prefix: string; readonly suffix: string } {
  const frame = eventFrame(sequenced(event, 1));
  // `eventFrame` puts t, room and the seq first; room names need no JSON escaping.
  const prefix = `{"t":"${frame.t}","room":"${frame.room}","${frame.t === "msg" ? "seq" : "at"}":`;
  const json = encodeServerFrame(frame);
  if (!json.startsWith(`${prefix}1,`)) throw new Error(`unexpected frame layout: ${json}`);
  return { prefix, suffix: json.slice(prefix.length + 1) };
}
