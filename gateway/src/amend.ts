import { isMessage, type RoomEvent } from "@parley/protocol";
import type { Store } from "@parley/store";
import type { Bus } from "./bus/bus.js";

/** What looking up a message needs (a session's context has it); each collaborator narrowed to the calls it makes. */
export interface LookupContext {
  readonly bus: Pick<Bus, "recent">;
  readonly store: Pick<Store, "target">;
}

/** What an edit, deletion, reaction or reply finds about the message it names. */
export type Lookup = {
  /**
   * The room already has an event of this user with this cid after the message: the frame is a retry, which the
   * Bus answers with the original, so it is not checked again (a retried delete must get its ack, not `gone`).
   */
  readonly retry: boolean;
} & (
  | { readonly state: "missing" }
  | { readonly state: "deleted" }
  | { readonly state: "present"; readonly from: string }
);

/**
 * Finds message `seq` of `room`: in the Bus's recent buffer, with every later event there (deletions of it, an
 * earlier attempt of the same frame), and, for a message older than the buffer, in the Store. A message older than
 * the buffer that the persister has not stored yet is not found; a deletion of an old message that is neither in the
 * buffer nor stored yet is not seen, and the edit or reaction that then slips in is ignored wherever the message's
 * state is worked out (a deletion wins over every edit, whatever their order).
 */
export async function lookUp(
  { bus, store }: LookupContext,
  { room, seq, user, cid }: { room: string; seq: number; user: string; cid?: string | undefined },
): Promise<Lookup> {
  const later = await bus.recent(room, seq - 1);
  const retry = cid !== undefined && later.some((event) => event.from === user && event.cid === cid);
  if (later.some((event) => "kind" in event && event.kind === "delete" && event.target === seq)) {
    return { retry, state: "deleted" };
  }
  const first: RoomEvent | undefined = later[0];
  if (first?.seq === seq) {
    return isMessage(first) ? { retry, state: "present", from: first.from } : { retry, state: "missing" };
  }
  const stored = await store.target(room, seq);
  if (stored === undefined) return { retry, state: "missing" };
  return stored.deleted ? { retry, state: "deleted" } : { retry, state: "present", from: stored.from };
}
