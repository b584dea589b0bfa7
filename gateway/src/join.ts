import { dmMembers, type RoomEvent, type ServerFrame } from "@parley/protocol";
import type { Store } from "@parley/store";
import type { Bus } from "./bus/bus.js";

/** What the join pipeline reads (a session's context has it all); each collaborator narrowed to the calls it makes. */
export interface JoinContext {
  readonly bus: Pick<Bus, "latest" | "presence" | "recent">;
  readonly store: Pick<Store, "events" | "readPositions">;
  /** `maxReplay`: most events replayed for a `since`. */
  readonly limits: { readonly maxReplay: number };
}

/**
 * How a join is answered, in order: `joined`, the replayed events, the saved read positions, and on a first join
 * `presence`.
 */
export interface JoinAnswer {
  /** The room's latest seq when the join read it: live events above it follow the replay. */
  readonly latest: number;
  readonly joined: ServerFrame & { t: "joined" };
  readonly replay: readonly RoomEvent[];
  /** The joining user's saved read position, and in a DM the other person's (read receipts), where saved. */
  readonly reads: readonly (ServerFrame & { t: "read" })[];
  /** Only for a first join: a repeated join (a client recovering a gap) is already counted present. */
  readonly presence?: ServerFrame & { t: "presence" };
}

/**
 * Reads what a join answers, all before `joined` goes out: from `joined` on the client may send, so nothing may be
 * awaited between it and the room counting as joined. Presence is read alongside `latest`, so changes from here on
 * can be held back like messages.
 */
export async function answerJoin(
  { bus, store, limits }: JoinContext,
  { room, user, since, first }: { room: string; user: string; since: number | undefined; first: boolean },
): Promise<JoinAnswer> {
  const readers = dmMembers(room) ?? [user];
  const [latest, present, positions] = await Promise.all([
    bus.latest(room),
    first ? bus.presence(room) : undefined,
    store.readPositions(room, readers),
  ]);
  const replay =
    since === undefined ? undefined : await recover(bus, store, { room, since, latest, limit: limits.maxReplay });
  return {
    latest,
    joined: { t: "joined", room, seq: latest, ...(replay ? { recovered: replay.complete } : {}) },
    replay: replay?.events ?? [],
    reads: [...positions].map(([reader, seq]) => ({ t: "read", room, user: reader, seq })),
    ...(present
      ? {
          presence: {
            t: "presence",
            room,
            ...(present.users ? { joined: [...present.users] } : {}),
            count: present.count,
          },
        }
      : {}),
  };
}

export interface Recovery {
  /** Ascending, without duplicates. */
  readonly events: RoomEvent[];
  /** Whether `events` holds every seq in `(since, latest]`. */
  readonly complete: boolean;
}

/**
 * What a client that saw up to `since` missed, up to `latest` (messages, edits, deletions and reactions alike): from
 * the Bus's recent buffer and, for anything older than the buffer reaches, from the Store. At most `limit` events,
 * the newest ones, so a client far behind gets the recent conversation at once and pages older history over HTTP.
 */
export async function recover(
  bus: Pick<Bus, "recent">,
  store: Pick<Store, "events">,
  { room, since, latest, limit }: { room: string; since: number; latest: number; limit: number },
): Promise<Recovery> {
  if (since >= latest) return { events: [], complete: true };
  const from = Math.max(since, latest - limit);
  const buffered = (await bus.recent(room, from)).filter((event) => event.seq <= latest);
  const firstBuffered = buffered[0]?.seq ?? latest + 1;
  const older =
    firstBuffered > from + 1
      ? await store.events({ room, after: from, before: firstBuffered, limit: firstBuffered - from - 1 })
      : [];
  const events = [...older, ...buffered];
  const complete =
    from === since && events.length === latest - since && events.every((e, index) => e.seq === since + index + 1);
  return { events, complete };
}
