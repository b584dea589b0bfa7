import { type RoomEvent, sequenced } from "@parley/protocol";
import {
  type Bus,
  type BusEvent,
  type BusListener,
  type BusOptions,
  DEFAULT_DEDUPE_TTL_SECONDS,
  DEFAULT_PRESENCE_LIST_LIMIT,
  DEFAULT_RECENT_LIMIT,
  type InboxFrame,
  type Presence,
  type Published,
  type PublishInput,
} from "./bus.js";
import { inboxEvent, persistedEvent, presenceEvent, readEvent, sequencedEvent, typingEvent } from "./bus-event.js";

interface RoomState {
  seq: number;
  recent: RoomEvent[];
  /** `${from}\n${cid}` -> original event and when it stops counting as a retry. */
  dedupe: Map<string, { event: RoomEvent; expiresAt: number }>;
}

/**
 * The embedded default and the reference implementation: everything in this process's memory, so it is correct
 * for a single process only (two gateways with a MemoryBus each would assign the same seqs). A room continues
 * right above the Store's highest seq after a restart: with the in-memory Log, a graceful stop persists every
 * acked message first, while a crash loses the unpersisted ones together with their seqs.
 */
export class MemoryBus implements Bus {
  /** Settles once the room's counter is seeded; a promise so concurrent first publishes seed once. */
  readonly #rooms = new Map<string, Promise<RoomState>>();
  readonly #subscribed = new Set<string>();
  readonly #subscribedUsers = new Set<string>();
  readonly #listener: BusListener;
  readonly #recentLimit: number;
  readonly #dedupeTtlMs: number;
  readonly #seed: (room: string) => Promise<number>;
  /** Present users per room (this process is the only one, so no expiry is needed). */
  readonly #present = new Map<string, Set<string>>();
  readonly #presenceListLimit: number;

  constructor(options: BusOptions) {
    this.#presenceListLimit = options.presenceListLimit ?? DEFAULT_PRESENCE_LIST_LIMIT;
    this.#seed = options.seed ?? (async () => 0);
    this.#listener = options.listener;
    this.#recentLimit = options.recentLimit ?? DEFAULT_RECENT_LIMIT;
    this.#dedupeTtlMs = (options.dedupeTtlSeconds ?? DEFAULT_DEDUPE_TTL_SECONDS) * 1000;
  }

  async publish(input: PublishInput): Promise<Published> {
    const state = await this.#room(input.room);
    const key = `${input.from}\n${input.cid}`;
    const now = Date.now();
    const seen = state.dedupe.get(key);
    if (seen && seen.expiresAt > now) return { event: seen.event, duplicate: true };
    this.#expire(state, now);
    const event = sequenced(input, ++state.seq);
    state.dedupe.set(key, { event, expiresAt: now + this.#dedupeTtlMs });
    state.recent.push(event);
    if (state.recent.length > this.#recentLimit) state.recent.splice(0, state.recent.length - this.#recentLimit);
    this.#emit(input.room, sequencedEvent(event));
    return { event, duplicate: false };
  }

  async publishTyping(room: string, user: string): Promise<void> {
    this.#emit(room, typingEvent(room, user));
  }

  async publishRead(room: string, user: string, seq: number): Promise<void> {
    this.#emit(room, readEvent(room, user, seq));
  }

  async joinPresence(room: string, user: string): Promise<void> {
    let users = this.#present.get(room);
    if (!users) {
      users = new Set();
      this.#present.set(room, users);
    }
    if (users.has(user)) return;
    users.add(user);
    this.#emitPresence(room, { joined: [user] }, users.size);
  }

  async leavePresence(room: string, user: string): Promise<void> {
    const users = this.#present.get(room);
    if (!users?.delete(user)) return;
    if (users.size === 0) this.#present.delete(room);
    this.#emitPresence(room, { left: [user] }, users.size);
  }

  async presence(room: string): Promise<Presence> {
    const users = [...(this.#present.get(room) ?? [])].sort();
    return users.length > this.#presenceListLimit ? { count: users.length } : { count: users.length, users };
  }

  #emitPresence(room: string, change: { joined?: string[]; left?: string[] }, count: number): void {
    this.#emit(room, presenceEvent(room, change, count, count <= this.#presenceListLimit));
  }

  async publishPersisted(room: string, upTo: number): Promise<void> {
    this.#emit(room, persistedEvent(room, upTo));
  }

  async subscribe(room: string): Promise<void> {
    this.#subscribed.add(room);
  }

  async unsubscribe(room: string): Promise<void> {
    this.#subscribed.delete(room);
  }

  async publishInbox(user: string, frame: InboxFrame): Promise<void> {
    const event = inboxEvent(user, frame);
    if (this.#subscribedUsers.has(user)) queueMicrotask(() => this.#listener(event));
  }

  async subscribeUser(user: string): Promise<void> {
    this.#subscribedUsers.add(user);
  }

  async unsubscribeUser(user: string): Promise<void> {
    this.#subscribedUsers.delete(user);
  }

  async latest(room: string): Promise<number> {
    return (await this.#room(room)).seq;
  }

  async recent(room: string, after: number): Promise<RoomEvent[]> {
    return (await this.#room(room)).recent.filter((event) => event.seq > after);
  }

  isReady(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.#subscribed.clear();
    this.#subscribedUsers.clear();
  }

  #room(room: string): Promise<RoomState> {
    let state = this.#rooms.get(room);
    if (!state) {
      state = this.#seed(room).then((seq) => ({ seq, recent: [], dedupe: new Map() }));
      // A failed seed is not remembered: the next call asks again.
      state.catch(() => this.#rooms.delete(room));
      this.#rooms.set(room, state);
    }
    return state;
  }

  /** Drops expired dedupe entries; insertion order is expiry order, so this stops at the first live one. */
  #expire(state: RoomState, now: number): void {
    for (const [key, entry] of state.dedupe) {
      if (entry.expiresAt > now) break;
      state.dedupe.delete(key);
    }
  }

  #emit(room: string, event: BusEvent): void {
    // Delivered on a later tick, like a real bus, so publishers never re-enter their own listener.
    if (this.#subscribed.has(room)) queueMicrotask(() => this.#listener(event));
  }
}
