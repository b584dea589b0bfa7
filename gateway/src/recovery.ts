import type { ChatMessage } from "@parley/protocol";
import type { Store } from "@parley/store";
import type { Bus } from "./bus/bus.js";

export interface Recovery {
  /** Ascending, without duplicates. */
  readonly messages: ChatMessage[];
  /** Whether `messages` holds every seq in `(since, latest]`. */
  readonly complete: boolean;
}

/**
 * What a client that saw up to `since` missed, up to `latest`: from the Bus's recent buffer and, for anything older
 * than the buffer reaches, from the Store. At most `limit` messages, the newest ones, so a client far behind gets the
 * recent conversation at once and pages older history over HTTP.
 */
export async function recover(
  bus: Pick<Bus, "recent">,
  store: Pick<Store, "history">,
  { room, since, latest, limit }: { room: string; since: number; latest: number; limit: number },
): Promise<Recovery> {
  if (since >= latest) return { messages: [], complete: true };
  const from = Math.max(since, latest - limit);
  const buffered = (await bus.recent(room, from)).filter((message) => message.seq <= latest);
  const firstBuffered = buffered[0]?.seq ?? latest + 1;
  const older =
    firstBuffered > from + 1
      ? (await store.history({ room, after: from, limit: firstBuffered - from - 1 })).filter(
          (message) => message.seq < firstBuffered,
        )
      : [];
  const messages = [...older, ...buffered];
  const complete =
    from === since && messages.length === latest - since && messages.every((m, index) => m.seq === since + index + 1);
  return { messages, complete };
}
