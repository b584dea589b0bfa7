import type { Bus, BusEvent } from "./bus/bus.js";

/** Something in a room on this gateway that events are delivered to (a client session). */
export interface RoomMember {
  deliver(event: BusEvent): void;
}

export function roomOf(event: BusEvent): string {
  return event.t === "msg" ? event.message.room : event.room;
}

/**
 * This gateway's room membership. The Bus subscription of a room exists exactly while the room has a local member:
 * it is made by the first `join` (which resolves once it is active, so no event is missed) and dropped after the
 * last `leave`.
 */
export class LocalRooms {
  readonly #members = new Map<string, Set<RoomMember>>();
  readonly #subscriptions = new Map<string, Promise<void>>();

  constructor(
    private readonly bus: Pick<Bus, "subscribe" | "unsubscribe">,
    private readonly onUnsubscribeError: (room: string, error: unknown) => void,
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
  }

  leave(room: string, member: RoomMember): void {
    const members = this.#members.get(room);
    if (!members?.delete(member) || members.size > 0) return;
    this.#members.delete(room);
    this.#subscriptions.delete(room);
    this.bus.unsubscribe(room).catch((error: unknown) => this.onUnsubscribeError(room, error));
  }

  deliver(event: BusEvent): void {
    const members = this.#members.get(roomOf(event));
    if (members) for (const member of members) member.deliver(event);
  }

  /** Rooms with at least one local member. */
  get size(): number {
    return this.#members.size;
  }
}
