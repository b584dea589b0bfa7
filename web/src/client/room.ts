import type { ChatMessage } from "@parley/protocol";

/** Where one of our own messages is on its way: `acked` is durable (in the Log), `persisted` is in the database. */
export type Delivery = "sending" | "acked" | "persisted" | "failed";

/** One line of a room's conversation as the UI shows it. */
export interface ChatItem {
  /** Stable across the item's life (`cid` of our own sends, otherwise the message id). */
  readonly key: string;
  /** Absent while our own message is not sequenced yet. */
  readonly seq?: number;
  readonly cid: string;
  readonly from: string;
  readonly body: string;
  readonly ts: number;
  readonly own: boolean;
  /** Only on our own messages that this client sent or saw being stored. */
  readonly delivery?: Delivery;
  /** Why a send failed, for the retry prompt. */
  readonly error?: string;
}

/** What the UI knows about a room: an immutable snapshot, replaced whenever something in it changes. */
export interface RoomSnapshot {
  readonly name: string;
  /** Joined on the current connection (false while connecting or reconnecting). */
  readonly joined: boolean;
  /** No message is known yet but some may be on the way (the join, or the replay after it): not "no messages". */
  readonly loading: boolean;
  readonly items: readonly ChatItem[];
  /** Messages from others after the last one read. */
  readonly unread: number;
  /** More history exists above the oldest loaded message. */
  readonly hasOlder: boolean;
  readonly loadingOlder: boolean;
  readonly historyError?: string;
  /** Members present, sorted (from presence frames). */
  readonly members: readonly string[];
  /** Present connections as counted by the server, when it says. */
  readonly memberCount?: number;
  /** Other users typing right now. */
  readonly typing: readonly string[];
}

interface OwnSend {
  body: string;
  ts: number;
  state: "sending" | "acked" | "failed";
  error?: string;
  /** Set once the server sequenced it (from the `msg` or the `ack`). */
  seq?: number;
  /** The frame went out on the current connection (reset on reconnect, so it is sent again with the same cid). */
  sentOnConnection: boolean;
}

/**
 * One room's protocol state: messages deduplicated by seq, the highest gap-free seq (what `join` sends as `since`),
 * our own sends by cid, the persisted watermark, presence and typing. Plain data, no I/O: {@link ChatClient} drives it.
 */
export class RoomModel {
  /** Messages by seq (from `msg` frames, replays and history pages). */
  readonly #messages = new Map<number, ChatMessage>();
  #sortedSeqs: number[] = [];
  readonly #own = new Map<string, OwnSend>();
  /** Every seq up to this one has been received: the `since` of the next `join`. */
  lastSeq = 0;
  /** The next message starts a new gap-free run (after a replay that could not cover everything). */
  #rebase = false;
  /** Our `lastSeq` when the rebase began, if we had messages: the hole starts above it. */
  #holeAfter: number | undefined;
  #hole: { readonly after: number; readonly before: number } | undefined;
  persistedUpTo = 0;
  /** Highest seq the user has seen; `undefined` until the room was first joined. */
  lastRead: number | undefined;
  joined = false;
  /** `joined` announced messages beyond ours that have not arrived yet (the replay, or the history page instead). */
  #replayDue = false;
  /** A `join` with `since` is out to fill a gap; further gaps wait for its answer. */
  recovering = false;
  hasOlder = false;
  loadingOlder = false;
  historyError: string | undefined;
  readonly members = new Set<string>();
  memberCount: number | undefined;
  /** user -> when the typing indicator expires (ms). */
  readonly typing = new Map<string, number>();
  #snapshot: RoomSnapshot | undefined;

  constructor(
    readonly name: string,
    readonly me: string,
  ) {}

  /** Call after every change, so the next snapshot is rebuilt. */
  changed(): void {
    this.#snapshot = undefined;
  }

  get oldestSeq(): number | undefined {
    return this.#sortedSeqs[0];
  }

  /**
   * `joined` arrived. `recovered: false` means the replay that follows holds only the newest messages (or seqs were
   * lost): the next message starts a new gap-free run, and what lies between it and what we had is a hole that
   * {@link takeHole} hands to the client to fill from the history API. What we already show stays.
   */
  onJoined(latest: number, recovered: boolean | undefined): void {
    if (!this.joined) {
      // A fresh join on this connection: the presence snapshot follows. (A rejoin to fill a gap gets none.)
      this.members.clear();
      this.memberCount = undefined;
    }
    this.joined = true;
    this.#replayDue = latest > this.lastSeq;
    this.recovering = false;
    if (recovered === false) {
      this.#rebase = true;
      this.#holeAfter = this.#sortedSeqs.length > 0 ? this.lastSeq : undefined;
      if (this.#sortedSeqs.length === 0) this.hasOlder = true;
    } else if (this.#sortedSeqs.length === 0) {
      this.hasOlder = false;
    }
    this.lastRead ??= latest;
    this.changed();
  }

  /** Seqs between what we had and where a rebased run started, to fetch from history (once). */
  takeHole(): { readonly after: number; readonly before: number } | undefined {
    const hole = this.#hole;
    this.#hole = undefined;
    return hole;
  }

  /**
   * A live or replayed message. Returns `"gap"` when it skips seqs we never received (the caller then rejoins with
   * `since` to recover them), `"duplicate"` when it was already known.
   */
  onMessage(message: ChatMessage): "new" | "duplicate" | "gap" {
    const own = message.from === this.me ? this.#own.get(message.cid) : undefined;
    if (own) own.seq = message.seq;
    this.typing.delete(message.from);
    const known = this.#messages.has(message.seq);
    this.#insert(message);
    this.changed();
    if (this.#rebase) {
      this.#rebase = false;
      if (this.#holeAfter !== undefined && message.seq > this.#holeAfter + 1) {
        this.#hole = { after: this.#holeAfter, before: message.seq };
      }
      this.#holeAfter = undefined;
      this.lastSeq = Math.max(this.lastSeq, message.seq);
      if (this.oldestSeq === message.seq) this.hasOlder = message.seq > 1;
    }
    let gap = false;
    if (message.seq > this.lastSeq + 1) gap = true;
    while (this.#messages.has(this.lastSeq + 1)) this.lastSeq += 1;
    if (known) return "duplicate";
    return gap ? "gap" : "new";
  }

  /** Our send is in the Log. */
  onAck(cid: string, seq: number): void {
    const own = this.#own.get(cid);
    if (!own) return;
    own.state = "acked";
    own.seq = seq;
    delete own.error;
    this.changed();
  }

  onPersisted(upTo: number): void {
    if (upTo <= this.persistedUpTo) return;
    this.persistedUpTo = upTo;
    this.changed();
  }

  /** The server refused or could not store our send; it stays in the list with a retry. */
  onSendError(cid: string, reason: string): boolean {
    const own = this.#own.get(cid);
    if (!own || own.state === "acked") return false;
    own.state = "failed";
    own.error = reason;
    this.changed();
    return true;
  }

  /** A page from the history API (persisted messages, ascending). */
  onHistory(messages: readonly ChatMessage[], more: boolean): void {
    for (const message of messages) this.#insert(message);
    const highest = messages.at(-1)?.seq;
    // Everything the history API returns is stored, and the store fills each room in seq order.
    if (highest !== undefined) this.onPersisted(highest);
    this.hasOlder = more && (this.oldestSeq ?? 0) > 1;
    this.#replayDue = false;
    this.loadingOlder = false;
    this.historyError = undefined;
    this.changed();
  }

  /** Messages fetched to fill a hole: stored ones, so they also count as persisted. */
  onHoleFill(messages: readonly ChatMessage[]): void {
    for (const message of messages) this.#insert(message);
    this.changed();
  }

  addSend(cid: string, body: string, ts: number): void {
    this.#own.set(cid, { body, ts, state: "sending", sentOnConnection: false });
    this.changed();
  }

  /** Sends to put on the wire now: not yet sent on this connection, neither acked nor failed. */
  takeUnsent(): { cid: string; body: string }[] {
    const out: { cid: string; body: string }[] = [];
    for (const [cid, own] of this.#own) {
      if (own.state !== "sending" || own.sentOnConnection) continue;
      own.sentOnConnection = true;
      out.push({ cid, body: own.body });
    }
    return out;
  }

  /** A failed send goes back to `sending` with its original cid, so the server deduplicates it. */
  retry(cid: string): boolean {
    const own = this.#own.get(cid);
    if (own?.state !== "failed") return false;
    own.state = "sending";
    own.sentOnConnection = false;
    delete own.error;
    this.changed();
    return true;
  }

  /** Unacked sends whose frame went out before `before`: failed if no ack came (they can be retried). */
  sentCids(): string[] {
    return [...this.#own].filter(([, own]) => own.state === "sending" && own.sentOnConnection).map(([cid]) => cid);
  }

  /** The connection dropped: nothing is joined, and unacked sends go out again after the rejoin. */
  onDisconnected(): void {
    this.joined = false;
    this.recovering = false;
    this.#rebase = false;
    this.#holeAfter = undefined;
    this.members.clear();
    this.memberCount = undefined;
    this.typing.clear();
    for (const own of this.#own.values()) own.sentOnConnection = false;
    this.changed();
  }

  onPresence(joined: readonly string[] = [], left: readonly string[] = [], count?: number): void {
    for (const user of joined) this.members.add(user);
    for (const user of left) {
      this.members.delete(user);
      this.typing.delete(user);
    }
    if (count !== undefined) this.memberCount = count;
    this.changed();
  }

  onTyping(user: string, until: number): void {
    if (user === this.me) return;
    this.typing.set(user, until);
    this.changed();
  }

  /** Drops typing indicators that expired; returns whether any did. */
  expireTyping(now: number): boolean {
    let expired = false;
    for (const [user, until] of this.typing) {
      if (until > now) continue;
      this.typing.delete(user);
      expired = true;
    }
    if (expired) this.changed();
    return expired;
  }

  markRead(): boolean {
    const newest = this.#sortedSeqs.at(-1) ?? 0;
    if ((this.lastRead ?? 0) >= newest) return false;
    this.lastRead = newest;
    this.changed();
    return true;
  }

  snapshot(): RoomSnapshot {
    this.#snapshot ??= this.#build();
    return this.#snapshot;
  }

  #insert(message: ChatMessage): void {
    this.#replayDue = false;
    if (this.#messages.has(message.seq)) {
      this.#messages.set(message.seq, message);
      return;
    }
    this.#messages.set(message.seq, message);
    const seqs = this.#sortedSeqs;
    if (seqs.length === 0 || message.seq > (seqs.at(-1) ?? 0)) {
      seqs.push(message.seq);
      return;
    }
    let low = 0;
    let high = seqs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((seqs[mid] ?? 0) < message.seq) low = mid + 1;
      else high = mid;
    }
    seqs.splice(low, 0, message.seq);
  }

  #build(): RoomSnapshot {
    const items: ChatItem[] = [];
    const shown = new Set<string>();
    let unread = 0;
    const lastRead = this.lastRead ?? Number.POSITIVE_INFINITY;
    for (const seq of this.#sortedSeqs) {
      const message = this.#messages.get(seq);
      if (!message) continue;
      const mine = message.from === this.me;
      if (!mine && seq > lastRead) unread += 1;
      const own = mine ? this.#own.get(message.cid) : undefined;
      if (own) shown.add(message.cid);
      items.push(this.#item(message, mine, own));
    }
    // Our sends that are not in the sequence yet (or whose `msg` we have not seen), at the end, in send order.
    for (const [cid, own] of this.#own) {
      if (shown.has(cid)) continue;
      if (own.seq !== undefined && own.seq <= (this.#sortedSeqs[0] ?? 0)) continue;
      items.push({
        key: cid,
        ...(own.seq === undefined ? {} : { seq: own.seq }),
        cid,
        from: this.me,
        body: own.body,
        ts: own.ts,
        own: true,
        delivery: this.#delivery(own, own.seq),
        ...(own.error === undefined ? {} : { error: own.error }),
      });
    }
    return {
      name: this.name,
      joined: this.joined,
      loading: this.#sortedSeqs.length === 0 && (!this.joined || this.#replayDue),
      items,
      unread,
      hasOlder: this.hasOlder,
      loadingOlder: this.loadingOlder,
      ...(this.historyError === undefined ? {} : { historyError: this.historyError }),
      members: [...this.members].sort(),
      ...(this.memberCount === undefined ? {} : { memberCount: this.memberCount }),
      typing: [...this.typing.keys()].sort(),
    };
  }

  #item(message: ChatMessage, mine: boolean, own: OwnSend | undefined): ChatItem {
    const base = {
      key: own ? message.cid : message.id,
      seq: message.seq,
      cid: message.cid,
      from: message.from,
      body: message.body,
      ts: message.ts,
      own: mine,
    };
    if (own) return { ...base, delivery: this.#delivery(own, message.seq), ...(own.error ? { error: own.error } : {}) };
    // Our own messages from another session or an earlier visit: all we can tell is whether they are stored.
    if (mine && message.seq <= this.persistedUpTo) return { ...base, delivery: "persisted" };
    return base;
  }

  #delivery(own: OwnSend, seq: number | undefined): Delivery {
    if (own.state === "acked" && seq !== undefined && seq <= this.persistedUpTo) return "persisted";
    return own.state;
  }
}
