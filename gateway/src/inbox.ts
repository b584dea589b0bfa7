import { type HistoryMessage, type InboxEntry, isMessage, MAX_UNREAD, type RoomEvent } from "@parley/protocol";
import type { InboxRow, Store } from "@parley/store";
import type { Bus, InboxFrame } from "./bus/bus.js";

/** What reading an inbox needs (a session's context has it); each collaborator narrowed to the calls it makes. */
export interface InboxContext {
  readonly bus: Pick<Bus, "latest" | "recent">;
  readonly store: Pick<Store, "inbox" | "target">;
}

/**
 * The user's inbox, or with `rooms` those rooms' entries: what the Store has up to each room's persisted watermark,
 * completed from the Bus's recent buffer above it (messages sent, edited or deleted that are not stored yet), so a
 * count does not lag behind the persister. A deletion in the buffer of a message up to the watermark, which the
 * Store's count may still hold, is looked up (a primary-key probe each, only for such deletions).
 */
export async function readInbox(
  { bus, store }: InboxContext,
  user: string,
  rooms?: readonly string[],
): Promise<InboxEntry[]> {
  const rows = await store.inbox(user, rooms);
  return Promise.all(
    rows.map(async (row) => {
      const [latest, recent] = await Promise.all([bus.latest(row.room), bus.recent(row.room, row.watermark)]);
      const tail = recent.filter((event) => event.seq <= latest);
      const deleted = new Set(
        tail.flatMap((event) => (!isMessage(event) && event.kind === "delete" ? [event.target] : [])),
      );
      const counted = await countedDeletions(store, user, row, deleted);
      return complete(user, { ...row, unread: Math.max(0, row.unread - counted) }, latest, tail, deleted);
    }),
  );
}

/** The live frame of an inbox entry. */
export function inboxFrame({ room, latest, read, unread }: InboxEntry): InboxFrame {
  return { t: "inbox", room, latest, read, unread };
}

/**
 * How many of the messages the Store counted as unread the buffered deletions (`deleted`: the seqs they name) delete:
 * those of other users above the read position, up to the watermark, that the Store does not know as deleted yet.
 */
async function countedDeletions(
  store: Pick<Store, "target">,
  user: string,
  { room, read, watermark }: InboxRow,
  deleted: ReadonlySet<number>,
): Promise<number> {
  const targets = [...deleted].filter((seq) => seq > read && seq <= watermark);
  const found = await Promise.all(targets.map((seq) => store.target(room, seq)));
  return found.filter((target) => target !== undefined && !target.deleted && target.from !== user).length;
}

function complete(
  user: string,
  row: InboxRow,
  latest: number,
  tail: readonly RoomEvent[],
  deleted: ReadonlySet<number>,
): InboxEntry {
  const unread = tail.filter(
    (event) => isMessage(event) && event.seq > row.read && event.from !== user && !deleted.has(event.seq),
  ).length;
  const newest = tail.filter(isMessage).at(-1) ?? row.last;
  return {
    room: row.room,
    latest,
    read: Math.min(row.read, latest),
    unread: Math.min(MAX_UNREAD, row.unread + unread),
    ...(newest === undefined ? {} : { last: amended(newest, tail, deleted) }),
  };
}

/** A message as it stands after the buffered events that follow it. */
function amended(message: HistoryMessage, tail: readonly RoomEvent[], deleted: ReadonlySet<number>): HistoryMessage {
  const { body: _body, editedAt: _editedAt, ...rest } = message;
  if (deleted.has(message.seq)) return { ...rest, deleted: true };
  const edit = tail.findLast((event) => !isMessage(event) && event.kind === "edit" && event.target === message.seq);
  return edit !== undefined && "body" in edit ? { ...rest, body: edit.body, editedAt: edit.ts } : message;
}
