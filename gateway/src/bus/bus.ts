import type { RoomEvent, ServerFrame, UnsequencedEvent } from "@parley/protocol";

/**
 * What a client asks to publish (a message, an edit, a deletion or a reaction); the Bus adds the room's next `seq`.
 * Its `id` is chosen by the accepting gateway; a deduplicated retry returns the original id instead.
 */
export type PublishInput = UnsequencedEvent;

export interface Published {
  readonly event: RoomEvent;
  /** True when `(from, cid)` was already sequenced: `event` is the original and nothing was published again. */
  readonly duplicate: boolean;
}

/**
 * An event for the members of a room. `frame` is the exact wire frame to forward to clients, so a gateway encodes
 * nothing per delivery.
 */
export type BusEvent =
  /** A message, edit, deletion or reaction: everything that takes a seq in the room. */
  | { readonly t: "sequenced"; readonly event: RoomEvent; readonly frame: string }
  | { readonly t: "typing"; readonly room: string; readonly user: string; readonly frame: string }
  | { readonly t: "read"; readonly room: string; readonly user: string; readonly seq: number; readonly frame: string }
  | { readonly t: "persisted"; readonly room: string; readonly upTo: number; readonly frame: string }
  | {
      readonly t: "presence";
      readonly room: string;
      readonly joined?: readonly string[];
      readonly left?: readonly string[];
      readonly count: number;
      readonly frame: string;
    }
  | { readonly t: "epoch"; readonly room: string; readonly seq: number; readonly frame: string }
  /** For every connection of `user`, wherever they are: one entry of their inbox changed. */
  | { readonly t: "inbox"; readonly user: string; readonly room: string; readonly frame: string };

/** An inbox entry as its frame carries it. */
export type InboxFrame = ServerFrame & { t: "inbox" };

/** Receives every event of every room this process subscribed to. */
export type BusListener = (event: BusEvent) => void;

/**
 * Sequencing and fan-out between gateways.
 *
 * Guarantees any implementation must give:
 * - `publish` assigns the room's next seq atomically with dedupe by `(from, cid)`, appending to the room's recent
 *   buffer and publishing to subscribers: seqs of a room are gap-free and strictly increasing from 1 and never
 *   assigned twice, whatever kind of event takes them; a retried `(from, cid)` within the dedupe window returns the
 *   original event and publishes nothing.
 * - Every subscriber of a room receives the room's events in seq order (delivery is at-most-once: a subscriber
 *   that was disconnected recovers through `recent` or the Store).
 * - Presence is kept across processes: a user is present while any process has them (or until its entries expire),
 *   and joins and leaves are announced once per user, not once per connection or process.
 * - Typing and read events are ephemeral: never sequenced, buffered or persisted. Watermarks are not buffered
 *   either (each one supersedes the last).
 * - `subscribe`/`unsubscribe` calls for one room take effect in call order.
 * - Inbox events reach every process subscribed to their user (`subscribeUser`), in publish order per user, at most
 *   once like the rest; `subscribeUser`/`unsubscribeUser` calls for one user take effect in call order.
 */
export interface Bus {
  publish(input: PublishInput): Promise<Published>;
  publishTyping(room: string, user: string): Promise<void>;
  /** Tells the room's members that `user` has read it up to `seq` (ephemeral, like typing: not buffered). */
  publishRead(room: string, user: string, seq: number): Promise<void>;
  /**
   * This process has `user` in `room` (its first connection there). The user counts as present while any process
   * has them, and for at most the presence TTL after a process dies without leaving. Members get a presence event
   * when the user becomes present.
   */
  joinPresence(room: string, user: string): Promise<void>;
  /** This process's last connection of `user` left `room`; members get a presence event if nobody else has them. */
  leavePresence(room: string, user: string): Promise<void>;
  /** Who is present: the users when there are at most `presenceListLimit`, else only the count. */
  presence(room: string): Promise<Presence>;
  /** Tells the room's members that every seq up to `upTo` is in the Store (or recorded lost). */
  publishPersisted(room: string, upTo: number): Promise<void>;
  subscribe(room: string): Promise<void>;
  unsubscribe(room: string): Promise<void>;
  /** Tells every connection of `user`, on any process, that an entry of their inbox changed. */
  publishInbox(user: string, frame: InboxFrame): Promise<void>;
  /** This process gets `user`'s inbox events from now on (it has a connection of theirs). */
  subscribeUser(user: string): Promise<void>;
  unsubscribeUser(user: string): Promise<void>;
  /** The room's highest assigned seq (0 for a room without messages). */
  latest(room: string): Promise<number>;
  /** Buffered events of the room with seq greater than `after`, ascending (possibly fewer than were assigned). */
  recent(room: string, after: number): Promise<RoomEvent[]>;
  /** Whether the bus can serve traffic now (readiness). */
  isReady(): boolean;
  close(): Promise<void>;
}

/** What every implementation is configured with besides its connection. */
export interface BusOptions {
  readonly listener: BusListener;
  /**
   * The highest seq of the room known to durable storage, asked when the bus has no counter for the room.
   * @default () => 0
   */
  readonly seed?: (room: string) => Promise<number>;
  /**
   * Events kept per room for recovery on join.
   * @default 1000
   */
  readonly recentLimit?: number;
  /**
   * How long a `(from, cid)` is remembered for idempotent retries, in seconds.
   * @default 900
   */
  readonly dedupeTtlSeconds?: number;
  /**
   * Rooms with more present users than this get presence counts only, never user lists.
   * @default 100
   */
  readonly presenceListLimit?: number;
  /**
   * How long a process's presence entries outlive it if it dies without leaving; they are refreshed at a third of it.
   * @default 30
   */
  readonly presenceTtlSeconds?: number;
}

export interface Presence {
  readonly count: number;
  /** Absent above the list limit. */
  readonly users?: readonly string[];
}

export const DEFAULT_RECENT_LIMIT = 1000;
export const DEFAULT_PRESENCE_LIST_LIMIT = 100;
export const DEFAULT_PRESENCE_TTL_SECONDS = 30;
export const DEFAULT_DEDUPE_TTL_SECONDS = 900;
