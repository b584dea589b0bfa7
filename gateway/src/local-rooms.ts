import type { RoomEvent } from "@parley/protocol";
import type { Bus, BusEvent } from "./bus/bus.js";
import { presenceEvent } from "./bus/bus-event.js";
import type { Topics } from "./server.js";

/**
 * Presence changes of a room are gathered this long and delivered as one frame: when a room of N fills up (a
 * reconnect storm, a class starting) members get a few frames instead of one per arrival, N² in all.
 */
export const PRESENCE_COALESCE_MS = 200;

/**
 * A room's persisted watermark reaches its members at most once per this interval: the first at once, the highest
 * of the rest when the interval ends. The persister announces one per stored batch, which at a few messages per
 * second per room is one frame per message for every member; clients only need the latest.
 */
export const PERSISTED_INTERVAL_MS = 1000;

type PresenceEvent = Extract<BusEvent, { t: "presence" }>;
type PersistedEvent = Extract<BusEvent, { t: "persisted" }>;

/** Presence changes of one room waiting to be delivered: each user's latest change, and the latest count. */
interface PendingPresence {
  readonly last: Map<string, "joined" | "left">;
  count: number;
  listed: boolean;
}

/** Something in a room on this gateway that events are delivered to (a client session). */
export interface RoomMember {
  readonly user: string;
  /**
   * Typing, presence, watermarks and epochs; and messages until {@link subscribe} is called, so the member can hold
   * them back while it joins and drop those its join's replay carried.
   */
  deliver(event: BusEvent): void;
  /** From now on the room's messages reach the member through its socket's subscription to the room's topic. */
  subscribe(room: string): void;
  /** One of the member's user's own messages went to the room (watermarks are sent only to those awaiting one). */
  own(room: string, seq: number): void;
}

export function roomOf(event: BusEvent): string {
  return event.t === "sequenced" ? event.event.room : event.room;
}

/** One room with members on this gateway. */
interface Room {
  readonly members: Set<RoomMember>;
  /**
   * Members that get the room's messages one by one, each with the seq up to which its join delivered them
   * (Infinity while it joins): they are subscribed to the topic once a message at or above it has been published.
   */
  readonly catchingUp: Map<RoomMember, number>;
  /**
   * Per user whose join has completed, their connections here (presence counts users). A count rather than the
   * members themselves: a Set per user and room was a third of an idle joined connection's heap.
   */
  readonly users: Map<string, number>;
  readonly subscription: Promise<void>;
  /** The highest seq published to the room's topic. */
  published: number;
}

/**
 * This gateway's room membership and its fan-out. Each room is a topic of the transport: a message is handed to it
 * once and uWS writes it to every subscribed socket, so the JavaScript work per message does not grow with the
 * room. A member is subscribed only once its join has sent `joined` and the replay and the Bus has caught up with
 * what the replay reached; until then it gets the room's messages one by one and drops what it already has. A
 * message is published once per room, after dropping any the room has already had, so no subscriber sees one twice.
 *
 * The Bus subscription of a room exists exactly while the room has a local member: it is made by the first `join`
 * (which resolves once it is active, so no event is missed) and dropped after the last `leave`. Likewise a user is
 * in the Bus's presence of a room while they have a connection in it here, so a user with several tabs joins and
 * leaves once.
 */
export class LocalRooms {
  readonly #rooms = new Map<string, Room>();
  readonly #pendingPresence = new Map<string, PendingPresence>();
  /** Rooms inside a watermark interval, with the highest watermark held back in it, if any. */
  readonly #pendingPersisted = new Map<string, PersistedEvent | undefined>();

  constructor(
    private readonly bus: Pick<Bus, "subscribe" | "unsubscribe" | "joinPresence" | "leavePresence">,
    private readonly topics: Topics,
    private readonly published: (event: RoomEvent, deliveries: number) => void,
    private readonly onBackgroundError: (room: string, error: unknown) => void,
  ) {}

  /** Adds `member`, which gets the room's events through `deliver` until it reports its join with {@link joined}. */
  async join(name: string, member: RoomMember): Promise<void> {
    let room = this.#rooms.get(name);
    if (!room) {
      room = {
        members: new Set(),
        catchingUp: new Map(),
        users: new Map(),
        subscription: this.bus.subscribe(name),
        published: 0,
      };
      this.#rooms.set(name, room);
    }
    room.members.add(member);
    room.catchingUp.set(member, Number.POSITIVE_INFINITY);
    try {
      await room.subscription;
    } catch (error) {
      this.leave(name, member);
      throw error;
    }
    if (!room.members.has(member)) return; // left meanwhile
    const connections = (room.users.get(member.user) ?? 0) + 1;
    room.users.set(member.user, connections);
    if (connections === 1) await this.bus.joinPresence(name, member.user);
  }

  /** `member` has been sent the room's messages up to `upTo`: it is subscribed once the room's fan-out reaches it. */
  joined(name: string, member: RoomMember, upTo: number): void {
    const room = this.#rooms.get(name);
    if (!room?.catchingUp.has(member)) return;
    if (room.published >= upTo) {
      room.catchingUp.delete(member);
      member.subscribe(name);
    } else room.catchingUp.set(member, upTo);
  }

  leave(name: string, member: RoomMember): void {
    const room = this.#rooms.get(name);
    if (!room?.members.delete(member)) return;
    room.catchingUp.delete(member);
    const connections = (room.users.get(member.user) ?? 0) - 1;
    if (connections > 0) room.users.set(member.user, connections);
    else if (room.users.delete(member.user)) {
      this.bus.leavePresence(name, member.user).catch((error: unknown) => this.onBackgroundError(name, error));
    }
    if (room.members.size > 0) return;
    this.#rooms.delete(name);
    this.bus.unsubscribe(name).catch((error: unknown) => this.onBackgroundError(name, error));
  }

  deliver(event: BusEvent): void {
    if (event.t === "sequenced") this.#publish(event);
    else if (event.t === "presence") this.#gatherPresence(event);
    else if (event.t === "persisted") this.#throttlePersisted(event);
    else this.#deliverToMembers(event);
  }

  #publish(event: BusEvent & { t: "sequenced" }): void {
    const { room: name, seq, from } = event.event;
    const room = this.#rooms.get(name);
    if (!room || seq <= room.published) return;
    room.published = seq;
    this.published(event.event, this.topics.publish(name, event.frame));
    for (const [member, upTo] of room.catchingUp) {
      member.deliver(event);
      if (seq >= upTo) {
        room.catchingUp.delete(member);
        member.subscribe(name);
      }
    }
    // Only where the sender has a connection (its own gateway, mostly): a scan of the room without any writes.
    if (room.users.has(from)) for (const member of room.members) if (member.user === from) member.own(name, seq);
  }

  #deliverToMembers(event: BusEvent): void {
    const room = this.#rooms.get(roomOf(event));
    if (room) for (const member of room.members) member.deliver(event);
  }

  #throttlePersisted(event: PersistedEvent): void {
    const { room } = event;
    if (this.#pendingPersisted.has(room)) {
      const held = this.#pendingPersisted.get(room);
      if (held === undefined || event.upTo > held.upTo) this.#pendingPersisted.set(room, event);
      return;
    }
    this.#pendingPersisted.set(room, undefined);
    this.#deliverToMembers(event);
    const endInterval = () => {
      const held = this.#pendingPersisted.get(room);
      if (held === undefined) {
        this.#pendingPersisted.delete(room);
        return;
      }
      this.#pendingPersisted.set(room, undefined);
      this.#deliverToMembers(held);
      setTimeout(endInterval, PERSISTED_INTERVAL_MS).unref();
    };
    setTimeout(endInterval, PERSISTED_INTERVAL_MS).unref();
  }

  #gatherPresence(event: PresenceEvent): void {
    let pending = this.#pendingPresence.get(event.room);
    if (!pending) {
      pending = { last: new Map(), count: 0, listed: true };
      this.#pendingPresence.set(event.room, pending);
      setTimeout(() => this.#flushPresence(event.room), PRESENCE_COALESCE_MS).unref();
    }
    for (const user of event.joined ?? []) pending.last.set(user, "joined");
    for (const user of event.left ?? []) pending.last.set(user, "left");
    pending.count = event.count;
    pending.listed = event.joined !== undefined || event.left !== undefined;
  }

  /** One frame with each user's net change; applying it to the members' view gives the same result as each one. */
  #flushPresence(room: string): void {
    const pending = this.#pendingPresence.get(room);
    this.#pendingPresence.delete(room);
    if (!pending) return;
    const joined = [...pending.last].flatMap(([user, change]) => (change === "joined" ? [user] : []));
    const left = [...pending.last].flatMap(([user, change]) => (change === "left" ? [user] : []));
    this.#deliverToMembers(presenceEvent(room, { joined, left }, pending.count, pending.listed));
  }

  /** Rooms with at least one local member. */
  get size(): number {
    return this.#rooms.size;
  }
}
