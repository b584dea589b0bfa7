import type { Bus, BusEvent } from "./bus/bus.js";
import { presenceEvent } from "./bus/bus-event.js";

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
  deliver(event: BusEvent): void;
}

export function roomOf(event: BusEvent): string {
  return event.t === "msg" ? event.message.room : event.room;
}

/**
 * This gateway's room membership. The Bus subscription of a room exists exactly while the room has a local member:
 * it is made by the first `join` (which resolves once it is active, so no event is missed) and dropped after the
 * last `leave`. Likewise a user is in the Bus's presence of a room while they have a connection in it here, so a
 * user with several tabs joins and leaves once.
 */
export class LocalRooms {
  readonly #members = new Map<string, Set<RoomMember>>();
  readonly #subscriptions = new Map<string, Promise<void>>();
  /** Per room, connections per user. */
  readonly #users = new Map<string, Map<string, number>>();
  readonly #pendingPresence = new Map<string, PendingPresence>();
  /** Rooms inside a watermark interval, with the highest watermark held back in it, if any. */
  readonly #pendingPersisted = new Map<string, PersistedEvent | undefined>();

  constructor(
    private readonly bus: Pick<Bus, "subscribe" | "unsubscribe" | "joinPresence" | "leavePresence">,
    private readonly onBackgroundError: (room: string, error: unknown) => void,
  ) {}

  async join(room: string, member: RoomMember): Promise<void> {
    let members = this.#members.get(room);
    if (!members) {
      members = new Set();
      this.#members.set(room, members);
      this.#subscriptions.set(room, this.bus.subscribe(room));
    }
    members.add(member);
    try {
      await this.#subscriptions.get(room);
    } catch (error) {
      this.leave(room, member);
      throw error;
    }
    let users = this.#users.get(room);
    if (!users) {
      users = new Map();
      this.#users.set(room, users);
    }
    const connections = (users.get(member.user) ?? 0) + 1;
    users.set(member.user, connections);
    if (connections === 1) await this.bus.joinPresence(room, member.user);
  }

  leave(room: string, member: RoomMember): void {
    const members = this.#members.get(room);
    if (!members?.delete(member)) return;
    const users = this.#users.get(room);
    const connections = (users?.get(member.user) ?? 0) - 1;
    if (connections > 0) users?.set(member.user, connections);
    else if (users?.delete(member.user)) {
      this.bus.leavePresence(room, member.user).catch((error: unknown) => this.onBackgroundError(room, error));
    }
    if (members.size > 0) return;
    this.#members.delete(room);
    this.#subscriptions.delete(room);
    this.#users.delete(room);
    this.bus.unsubscribe(room).catch((error: unknown) => this.onBackgroundError(room, error));
  }

  deliver(event: BusEvent): void {
    if (event.t === "presence") this.#gatherPresence(event);
    else if (event.t === "persisted") this.#throttlePersisted(event);
    else this.#deliverToMembers(event);
  }

  #deliverToMembers(event: BusEvent): void {
    const members = this.#members.get(roomOf(event));
    if (members) for (const member of members) member.deliver(event);
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
    return this.#members.size;
  }
}
