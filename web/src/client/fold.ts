import type { ReactionCount } from "@parley/protocol";

/** What the history API says a message is, as it stood when the page was asked for. */
export interface MessageSnapshot {
  /** Absent once deleted. */
  readonly body?: string | undefined;
  readonly editedAt?: number | undefined;
  readonly deleted: boolean;
  readonly reactions: readonly ReactionCount[];
}

/** A message as it stands now: its current body (none once deleted), when it was last edited, its reactions. */
export interface MessageState {
  /** Absent once deleted. */
  readonly body?: string;
  readonly editedAt?: number;
  readonly deleted: boolean;
  /** Emoji with at least one user, in the order they were first used. */
  readonly reactions: readonly ReactionCount[];
}

/**
 * Where an event arrived in the room's own count of the stream events it received (not its seq): a history page
 * asked for when `received` was N reflects, as far as the client can tell, what the events up to N did.
 */
type Received = number;

interface EditEvent {
  readonly at: number;
  readonly body: string;
  readonly editedAt: number;
  readonly received: Received;
}

interface ReactionEvent {
  readonly at: number;
  readonly on: boolean;
  readonly received: Received;
}

/**
 * The edits, deletion and reactions of one message, folded in whatever order they arrive (live, replayed after a
 * gap, or before the message itself) to the state the Store works out from the same events: the latest edit by seq
 * wins, a deletion wins over every edit, each user's latest reaction event per emoji (by seq) is their reaction, and
 * once deleted the message shows neither body nor reactions. Folding an event twice changes nothing.
 *
 * A history page gives the message as it stood (reaction counts, not users), so it replaces what the events
 * received before it was asked for said; events received since are applied on top. That is exact for our own
 * reactions (the page says whether they are ours) and for edits and deletions; another user's reaction that raced
 * the page (received while it was on its way, stored before it was read) may count once too often until reload.
 */
export class MessageFold {
  #edit: EditEvent | undefined;
  #deleted = false;
  /** emoji -> user -> that user's reaction events, in the order they arrived. */
  readonly #reactions = new Map<string, Map<string, ReactionEvent[]>>();
  #snapshot: { readonly state: MessageSnapshot; readonly asOf: Received } | undefined;

  edit(at: number, body: string, editedAt: number, received: Received): void {
    if (this.#edit && this.#edit.at >= at) return;
    this.#edit = { at, body, editedAt, received };
  }

  delete(): void {
    this.#deleted = true;
  }

  react(at: number, user: string, emoji: string, on: boolean, received: Received): void {
    let users = this.#reactions.get(emoji);
    if (!users) {
      users = new Map();
      this.#reactions.set(emoji, users);
    }
    const events = users.get(user) ?? [];
    if (events.some((event) => event.at === at)) return;
    events.push({ at, on, received });
    users.set(user, events);
  }

  /** A history page's view of the message, asked for once `asOf` events had been received. */
  snapshot(state: MessageSnapshot, asOf: Received): void {
    if (this.#snapshot && this.#snapshot.asOf > asOf) return;
    this.#snapshot = { state, asOf };
  }

  get deleted(): boolean {
    return this.#deleted || this.#snapshot?.state.deleted === true;
  }

  /** The message now, from its body as posted (`undefined` when it is known only as a tombstone). */
  state(posted: string | undefined, me: string): MessageState {
    const snapshot = this.#snapshot;
    if (this.deleted || (posted === undefined && snapshot?.state.body === undefined)) {
      return { deleted: true, reactions: [] };
    }
    let body = snapshot?.state.body ?? posted;
    let editedAt = snapshot?.state.editedAt;
    const edit = this.#edit;
    if (edit && (!snapshot || editedAt === undefined || edit.received > snapshot.asOf || edit.editedAt >= editedAt)) {
      body = edit.body;
      editedAt = edit.editedAt;
    }
    return {
      ...(body === undefined ? {} : { body }),
      ...(editedAt === undefined ? {} : { editedAt }),
      deleted: false,
      reactions: this.#counts(me),
    };
  }

  #counts(me: string): ReactionCount[] {
    const snapshot = this.#snapshot;
    const base = new Map((snapshot?.state.reactions ?? []).map((reaction) => [reaction.emoji, reaction]));
    // The page's emoji in its order, then the others by their first use in the stream (not by when they arrived).
    const firstUse = (emoji: string) =>
      Math.min(...[...(this.#reactions.get(emoji)?.values() ?? [])].flat().map((event) => event.at));
    const live = [...this.#reactions.keys()].filter((emoji) => !base.has(emoji));
    const emojis = [...base.keys(), ...live.sort((a, b) => firstUse(a) - firstUse(b))];
    const counts: ReactionCount[] = [];
    for (const emoji of emojis) {
      let count = base.get(emoji)?.count ?? 0;
      let mine = base.get(emoji)?.mine ?? false;
      for (const [user, events] of this.#reactions.get(emoji) ?? []) {
        const on = latest(events).on;
        if (user === me) {
          // The page says whether we were among them, so our latest event corrects it exactly.
          count += Number(on) - Number(mine);
          mine = on;
          continue;
        }
        if (!snapshot) {
          count += Number(on);
          continue;
        }
        const since = events.filter((event) => event.received > snapshot.asOf);
        if (since.length === 0) continue; // the page counts them already
        // Reactions toggle: before its first event since the page, the user had the other state.
        const before = !since.reduce((first, event) => (event.at < first.at ? event : first)).on;
        count += Number(on) - Number(before);
      }
      count = Math.max(count, Number(mine));
      if (count > 0) counts.push({ emoji, count, mine });
    }
    return counts;
  }
}

function latest(events: readonly ReactionEvent[]): ReactionEvent {
  return events.reduce((newest, event) => (event.at > newest.at ? event : newest));
}
