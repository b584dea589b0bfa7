import { decodeServerFrame, encodeServerFrame, eventFrame, eventOfFrame, type RoomEvent } from "@parley/protocol";
import type { BusEvent, InboxFrame } from "./bus.js";

export function sequencedEvent(event: RoomEvent): BusEvent & { t: "sequenced" } {
  return { t: "sequenced", event, frame: encodeServerFrame(eventFrame(event)) };
}

export function typingEvent(room: string, user: string): BusEvent & { t: "typing" } {
  return { t: "typing", room, user, frame: encodeServerFrame({ t: "typing", room, user }) };
}

export function readEvent(room: string, user: string, seq: number): BusEvent & { t: "read" } {
  return { t: "read", room, user, seq, frame: encodeServerFrame({ t: "read", room, user, seq }) };
}

export function epochEvent(room: string, seq: number): BusEvent & { t: "epoch" } {
  return { t: "epoch", room, seq, frame: encodeServerFrame({ t: "epoch", room, seq }) };
}

export function persistedEvent(room: string, upTo: number): BusEvent & { t: "persisted" } {
  return { t: "persisted", room, upTo, frame: encodeServerFrame({ t: "persisted", room, upTo }) };
}

export function inboxEvent(user: string, frame: InboxFrame): BusEvent & { t: "inbox" } {
  return { t: "inbox", user, room: frame.room, frame: encodeServerFrame(frame) };
}

/** Decodes an inbox event of `user` received from another process; undefined for anything else. */
export function decodeInboxEvent(user: string, payload: string): (BusEvent & { t: "inbox" }) | undefined {
  const decoded = decodeServerFrame(payload);
  if (!decoded.ok || decoded.value.t !== "inbox") return undefined;
  return { t: "inbox", user, room: decoded.value.room, frame: payload };
}

/**
 * A presence change: who joined and left (only when `listed`, i.e. the room is within the presence list limit;
 * empty lists are left out) and how many are present.
 */
export function presenceEvent(
  room: string,
  change: { joined?: readonly string[]; left?: readonly string[] },
  count: number,
  listed: boolean,
): BusEvent & { t: "presence" } {
  const lists = {
    ...(listed && change.joined?.length ? { joined: [...change.joined] } : {}),
    ...(listed && change.left?.length ? { left: [...change.left] } : {}),
  };
  return { t: "presence", room, ...lists, count, frame: encodeServerFrame({ t: "presence", room, ...lists, count }) };
}

/**
 * Decodes a payload received from another process. Payloads are the wire frames themselves, validated here once
 * per gateway so clients get exactly the bytes that were checked.
 */
export function decodeBusEvent(payload: string): BusEvent | undefined {
  const decoded = decodeServerFrame(payload);
  if (!decoded.ok) return undefined;
  const { value } = decoded;
  const event = eventOfFrame(value);
  if (event !== undefined) return { t: "sequenced", event, frame: payload };
  switch (value.t) {
    case "typing":
      return { t: "typing", room: value.room, user: value.user, frame: payload };
    case "read":
      return { t: "read", room: value.room, user: value.user, seq: value.seq, frame: payload };
    case "persisted":
      return { t: "persisted", room: value.room, upTo: value.upTo, frame: payload };
    case "presence": {
      const { room, joined, left, count = 0 } = value;
      return { t: "presence", room, ...(joined ? { joined } : {}), ...(left ? { left } : {}), count, frame: payload };
    }
    case "epoch":
      return { t: "epoch", room: value.room, seq: value.seq, frame: payload };
    default:
      return undefined;
  }
}
