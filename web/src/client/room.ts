import {
  type Attachment,
  type ClientFrame,
  dmMembers,
  type EventFrame,
  type HistoryMessage,
  type InboxEntry,
  MAX_UNREAD,
  type ReactionCount,
} from "@parley/protocol";
import { MessageFold, type MessageState } from "./fold.js";

/** Where one of our own messages is on its way: `acked` is durable (in the Log), `persisted` is in the database. */
export type Delivery = "sending" | "acked" | "persisted" | "failed";

/** The message a reply answers, as the reply quotes it. */
export interface ReplyPreview {
  readonly seq: number;
  /** Absent while that message is not loaded (older than what is shown). */
  readonly from?: string;
  /** The first line of its current body; absent when it was deleted or is not loaded. */
  readonly excerpt?: string;
  readonly deleted: boolean;
}

/** What one of our changes of a message does. */
export type ChangeAction = "edit" | "delete" | "react";

/** One of our edits, deletions or reactions that the server refused or could not take. */
export interface ChangeFailure {
  readonly cid: string;
  readonly action: ChangeAction;
  readonly reason: string;
  /** Trying again (with the same cid) may work: a rate limit, an outage, no answer. Otherwise it can be dismissed. */
  readonly retriable: boolean;
}

/** One line of a room's conversation as the UI shows it. */
export interface ChatItem {
  /** Stable across the item's life (`cid` of our own sends, otherwise the message id). */
  readonly key: string;
  /** Absent while our own message is not sequenced yet. */
  readonly seq?: number;
  readonly cid: string;
  readonly from: string;
  /** Its current body: the latest edit's, or `""` once deleted. */
  readonly body: string;
  readonly ts: number;
  readonly own: boolean;
  /** When its latest edit was made (ms since the epoch), if it was edited. */
  readonly editedAt?: number;
  /** A tombstone: the message was deleted, its body is gone. */
  readonly deleted: boolean;
  /** Emoji with at least one user, in the order they were first used (none on a tombstone). */
  readonly reactions: readonly ReactionCount[];
  /** The files it carries (none on a tombstone: deleting a message deletes them). */
  readonly attachments: readonly Attachment[];
  readonly replyTo?: ReplyPreview;
  /** Only on our own messages that this client sent or saw being stored. */
  readonly delivery?: Delivery;
  /** Why a send failed, for the retry prompt. */
  readonly error?: string;
  /** Our edit or deletion of it is on its way; what it does is already shown. */
  readonly saving?: "edit" | "delete";
  /** The latest of our changes of it that failed. */
  readonly failedChange?: ChangeFailure;
  /** Our newest message the other person in a DM has read (a read receipt): only one item of a room has it. */
  readonly seen?: true;
}

/** What the UI knows about a room: an immutable snapshot, replaced whenever something in it changes. */
export interface RoomSnapshot {
  readonly name: string;
  /** Joined on the current connection (false while connecting or reconnecting). */
  readonly joined: boolean;
  /** No message is known yet but some may be on the way (the join, or the replay after it): not "no messages". */
  readonly loading: boolean;
  readonly items: readonly ChatItem[];
  /**
   * Messages from others after the last one read: counted from the loaded messages when they reach back to the read
   * position, otherwise from the server's inbox. At most {@link MAX_UNREAD}, which means that many or more.
   */
  readonly unread: number;
  /** The newest message, loaded or as the inbox gave it, for a one-line preview; absent while none is known. */
  readonly last?: ReplyPreview;
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

/** A frame this client retries with its cid until the server acks it. */
export type OutgoingFrame = Extract<ClientFrame, { t: "send" | "edit" | "delete" | "react" }> & {
  readonly cid: string;
};
type ChangeFrame = Extract<OutgoingFrame, { t: ChangeAction }>;

interface OwnSend {
  body: string;
  ts: number;
  replyTo: number | undefined;
  attachments: readonly Attachment[];
  state: "sending" | "acked" | "failed";
  error?: string;
  /** Set once the server sequenced it (from the `msg` or the `ack`). */
  seq?: number;
  /** The frame went out on the current connection (reset on reconnect, so it is sent again with the same cid). */
  sentOnConnection: boolean;
}

interface OwnChange {
  readonly frame: ChangeFrame;
  state: "sending" | "acked" | "failed";
  failure?: { readonly reason: string; readonly retriable: boolean };
  /** Its event came back in the stream, so the fold has it and it need not be shown on top any more. */
  seen: boolean;
  sentOnConnection: boolean;
}

/** A message as it was posted (or as a history page or a tombstone first told us of it). */
interface Posted {
  readonly seq: number;
  readonly id: string;
  readonly cid: string;
  readonly from: string;
  readonly ts: number;
  /** Absent when only its tombstone is known. */
  readonly body?: string;
  readonly replyTo?: number | undefined;
  readonly attachments?: readonly Attachment[] | undefined;
}

/** A message as it is shown now: its fold, with our own changes on their way applied on top. */
interface Current extends MessageState {
  readonly saving?: "edit" | "delete";
}

/** Longest excerpt a reply quotes, in UTF-16 code units (the UI cuts it shorter to fit). */
const EXCERPT_LENGTH = 140;

/**
 * One room's protocol state: its stream of events (messages, edits, deletions, reactions) deduplicated and folded
 * by seq, the highest gap-free seq over all of them (what `join` sends as `since`), our own sends and changes by cid,
 * the persisted watermark, presence and typing. Plain data, no I/O: {@link ChatClient} drives it.
 */
export class RoomModel {
  /** Messages by seq (from `msg` frames, tombstones, replays and history pages). */
  readonly #messages = new Map<number, Posted>();
  #sortedSeqs: number[] = [];
  /** What edits, deletions, reactions and history pages did to each message, by its seq (loaded or not). */
  readonly #folds = new Map<number, MessageFold>();
  /** Stream positions received above `lastSeq`, waiting for the ones below them. */
  readonly #ahead = new Set<number>();
  /** Stream events received so far: how a history page knows which of them it reflects. */
  #received = 0;
  readonly #own = new Map<string, OwnSend>();
  readonly #changes = new Map<string, OwnChange>();
  /** Every seq up to this one has been received: the `since` of the next `join`. */
  lastSeq = 0;
  /** The next stream event starts a new gap-free run (after a replay that could not cover everything). */
  #rebase = false;
  /** Our `lastSeq` when the rebase began, if we had messages: the hole starts above it. */
  #holeAfter: number | undefined;
  #hole: { readonly after: number; readonly before: number } | undefined;
  persistedUpTo = 0;
  /** Highest seq the user has seen; `undefined` until the room was first joined. */
  lastRead: number | undefined;
  /** Highest read position the server has for us (we sent it, or it told us): a `read` frame goes out only above. */
  readReported = 0;
  /** `lastRead` was only assumed by the first join (nothing unread then): a read position the server has wins. */
  #readAssumed = false;
  /** The server's inbox entry: its count of unread messages up to `latest`, and the newest message then. */
  #inbox: Omit<InboxEntry, "room"> | undefined;
  /** How far the other person in a DM has read (from their `read` frames); `undefined` in other rooms. */
  peerRead: number | undefined;
  joined = false;
  /** `joined` announced events beyond ours that have not arrived yet (the replay, or the history page instead). */
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
   * `joined` arrived. `recovered: false` means the replay that follows holds only the newest events (or seqs were
   * lost): the next event starts a new gap-free run, and what lies between it and what we had is a hole that
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
      // Their events may be in the hole, never to come back: what the stream says from here on is what counts.
      for (const [cid, change] of this.#changes) if (change.state === "acked") this.#changes.delete(cid);
    } else if (this.#sortedSeqs.length === 0) {
      this.hasOlder = false;
    }
    if (this.lastRead === undefined) {
      this.lastRead = latest;
      this.#readAssumed = true;
    }
    this.changed();
  }

  /** Seqs between what we had and where a rebased run started, to fetch from history (once). */
  takeHole(): { readonly after: number; readonly before: number } | undefined {
    const hole = this.#hole;
    this.#hole = undefined;
    return hole;
  }

  /**
   * A live or replayed event: a message (`msg`, at its `seq`) or an edit, deletion or reaction of one (at its own
   * position `at`). Returns `"gap"` when it skips positions we never received (the caller then rejoins with `since`
   * to recover them), `"duplicate"` when it was already known.
   */
  onEvent(frame: EventFrame): "new" | "duplicate" | "gap" {
    const position = frame.t === "msg" ? frame.seq : frame.at;
    const known = position <= this.lastSeq || this.#ahead.has(position);
    this.#received += 1;
    this.#replayDue = false;
    this.#fold(frame);
    this.changed();
    if (this.#rebase) {
      this.#rebase = false;
      if (this.#holeAfter !== undefined && position > this.#holeAfter + 1) {
        this.#hole = { after: this.#holeAfter, before: position };
      }
      if (this.#holeAfter === undefined && (this.#sortedSeqs.length === 0 || this.oldestSeq === position)) {
        this.hasOlder = position > 1;
      }
      this.#holeAfter = undefined;
      this.lastSeq = Math.max(this.lastSeq, position);
    }
    const gap = position > this.lastSeq + 1;
    if (position > this.lastSeq) this.#ahead.add(position);
    while (this.#ahead.delete(this.lastSeq + 1)) this.lastSeq += 1;
    if (known) return "duplicate";
    return gap ? "gap" : "new";
  }

  #fold(frame: EventFrame): void {
    switch (frame.t) {
      case "msg": {
        const { t: _t, room: _room, ...posted } = frame;
        const own = posted.from === this.me ? this.#own.get(posted.cid) : undefined;
        if (own) own.seq = posted.seq;
        this.typing.delete(posted.from);
        this.#insert(posted);
        return;
      }
      case "edited":
        this.#foldOf(frame.seq).edit(frame.at, frame.body, frame.editedAt, this.#received);
        this.#sawOwn(frame.from, frame.cid);
        return;
      case "deleted":
        this.#foldOf(frame.seq).delete();
        // A replay from the Store gives a deleted message as its tombstone, at the message's own position.
        if (frame.at === frame.seq && !this.#messages.has(frame.seq)) {
          this.#insert({ seq: frame.seq, id: frame.id, cid: frame.cid, from: frame.by, ts: frame.ts });
        }
        this.#sawOwn(frame.by, frame.cid);
        return;
      case "reaction":
        this.#foldOf(frame.seq).react(frame.at, frame.user, frame.emoji, frame.on, this.#received);
        this.#sawOwn(frame.user, frame.cid);
        return;
      default:
        frame satisfies never;
    }
  }

  #foldOf(seq: number): MessageFold {
    let fold = this.#folds.get(seq);
    if (!fold) {
      fold = new MessageFold();
      this.#folds.set(seq, fold);
    }
    return fold;
  }

  /** One of our changes came back in the stream: shown from the fold from now on, dropped once acked too. */
  #sawOwn(user: string, cid: string): void {
    if (user !== this.me) return;
    const change = this.#changes.get(cid);
    if (!change) return;
    if (change.state === "acked") this.#changes.delete(cid);
    else change.seen = true;
  }

  /** Our send or change is in the Log. */
  onAck(cid: string, seq: number): void {
    const own = this.#own.get(cid);
    if (own) {
      own.state = "acked";
      own.seq = seq;
      delete own.error;
      this.changed();
      return;
    }
    const change = this.#changes.get(cid);
    if (!change) return;
    if (change.seen) this.#changes.delete(cid);
    else {
      change.state = "acked";
      delete change.failure;
    }
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

  /** The server refused or could not store our change; the message shows why, with a retry if one may help. */
  onChangeError(cid: string, reason: string, retriable: boolean): boolean {
    const change = this.#changes.get(cid);
    if (!change || change.state === "acked") return false;
    change.state = "failed";
    change.failure = { reason, retriable };
    this.changed();
    return true;
  }

  /** Where the next history request starts from: the page then reflects the events received up to here. */
  historyMark(): number {
    return this.#received;
  }

  /** A page from the history API (persisted messages as they stand, ascending), asked for at `asOf`. */
  onHistory(messages: readonly HistoryMessage[], more: boolean, asOf: number): void {
    for (const message of messages) this.#insertStored(message, asOf);
    const highest = messages.at(-1)?.seq;
    // Everything the history API returns is stored, and the store fills each room in seq order.
    if (highest !== undefined) this.onPersisted(highest);
    this.hasOlder = more && (this.oldestSeq ?? 0) > 1;
    this.#replayDue = false;
    this.loadingOlder = false;
    this.historyError = undefined;
    this.changed();
  }

  /** Messages fetched to fill a hole (asked for at `asOf`): stored ones, so they also count as persisted. */
  onHoleFill(messages: readonly HistoryMessage[], asOf: number): void {
    for (const message of messages) this.#insertStored(message, asOf);
    this.changed();
  }

  #insertStored(message: HistoryMessage, asOf: number): void {
    const { seq, id, cid, from, ts, body, replyTo, attachments, editedAt, deleted, reactions = [] } = message;
    const posted = this.#messages.get(seq);
    this.#insert({
      seq,
      id,
      cid,
      from,
      ts,
      ...(posted?.body === undefined ? (body === undefined ? {} : { body }) : { body: posted.body }),
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(attachments === undefined ? {} : { attachments }),
    });
    this.#foldOf(seq).snapshot({ body, editedAt, deleted: deleted === true, reactions }, asOf);
    // The page says how the message stands; our acked changes of it are in there or on their way in the stream.
    for (const [key, change] of this.#changes) {
      if (change.frame.seq === seq && change.state === "acked") this.#changes.delete(key);
    }
  }

  addSend(cid: string, body: string, ts: number, replyTo?: number, attachments: readonly Attachment[] = []): void {
    this.#own.set(cid, { body, ts, replyTo, attachments, state: "sending", sentOnConnection: false });
    this.changed();
  }

  /** An edit, deletion or reaction of ours, shown at once and sent until acked. */
  addChange(frame: ChangeFrame): void {
    this.#changes.set(frame.cid, { frame, state: "sending", seen: false, sentOnConnection: false });
    this.changed();
  }

  /** Frames to put on the wire now: not yet sent on this connection, neither acked nor failed. */
  takeUnsent(): OutgoingFrame[] {
    const out: OutgoingFrame[] = [];
    for (const [cid, own] of this.#own) {
      if (own.state !== "sending" || own.sentOnConnection) continue;
      own.sentOnConnection = true;
      const replyTo = own.replyTo === undefined ? {} : { replyTo: own.replyTo };
      const files = own.attachments.length === 0 ? {} : { attachments: [...own.attachments] };
      // A message of files alone goes without a body (an empty one is not a body).
      const body = own.body === "" ? {} : { body: own.body };
      out.push({ t: "send", room: this.name, cid, ...body, ...replyTo, ...files });
    }
    for (const change of this.#changes.values()) {
      if (change.state !== "sending" || change.sentOnConnection) continue;
      change.sentOnConnection = true;
      out.push(change.frame);
    }
    return out;
  }

  /** A failed send or change goes back to `sending` with its original cid, so the server deduplicates it. */
  retry(cid: string): boolean {
    const own = this.#own.get(cid) ?? this.#changes.get(cid);
    if (own?.state !== "failed") return false;
    own.state = "sending";
    own.sentOnConnection = false;
    if ("error" in own) delete own.error;
    if ("failure" in own) delete own.failure;
    this.changed();
    return true;
  }

  /** Forgets a failed change (the user read why it failed). */
  dismiss(cid: string): void {
    if (this.#changes.get(cid)?.state !== "failed") return;
    this.#changes.delete(cid);
    this.changed();
  }

  /** The connection dropped: nothing is joined, and unacked sends and changes go out again after the rejoin. */
  onDisconnected(): void {
    this.joined = false;
    this.recovering = false;
    this.#rebase = false;
    this.#holeAfter = undefined;
    this.members.clear();
    this.memberCount = undefined;
    this.typing.clear();
    for (const own of this.#own.values()) own.sentOnConnection = false;
    for (const change of this.#changes.values()) change.sentOnConnection = false;
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

  /**
   * The user has seen everything received: `lastRead` rises to the newest position (a message's seq, or the stream
   * position, which also counts edits and reactions). Returns whether it rose.
   */
  markRead(): boolean {
    this.#readAssumed = false;
    const newest = Math.max(this.#sortedSeqs.at(-1) ?? 0, this.lastSeq);
    if ((this.lastRead ?? 0) >= newest) return false;
    this.lastRead = newest;
    this.changed();
    return true;
  }

  /** Whether `lastRead` is above what the server has for us, so a `read` frame is due. */
  readUnreported(): boolean {
    return (this.lastRead ?? 0) > this.readReported;
  }

  /**
   * A `read` frame: our own position from another device or an earlier visit raises `lastRead` (never lowers it);
   * the other person's in a DM moves their receipt. Returns whether our own `lastRead` rose.
   */
  onRead(user: string, seq: number): boolean {
    if (user === this.me) {
      this.readReported = Math.max(this.readReported, seq);
      if ((this.lastRead ?? 0) >= seq) return false;
      this.lastRead = seq;
      this.changed();
      return true;
    }
    if (dmMembers(this.name)?.includes(user) && seq > (this.peerRead ?? 0)) {
      this.peerRead = seq;
      this.changed();
    }
    return false;
  }

  /**
   * The server's inbox entry of the room (from `GET /api/inbox` or an `inbox` frame): its read position is adopted
   * like a `read` frame of ours, and its unread count is used wherever the loaded messages do not reach back to the
   * read position. A position the first join only assumed gives way to one the server has (another device's), even
   * a lower one; a server that has none (0) keeps it, to be reported. Returns whether `lastRead` changed.
   */
  onInbox({ latest, read, unread, last }: Omit<InboxEntry, "room">): boolean {
    const known = last ?? this.#inbox?.last;
    this.#inbox = { latest, read, unread, ...(known === undefined ? {} : { last: known }) };
    this.changed();
    const assumed = this.#readAssumed;
    this.#readAssumed = false;
    if (this.lastRead !== undefined && !(assumed && read > 0)) return this.onRead(this.me, read);
    const changed = this.lastRead !== read;
    this.lastRead = read;
    this.readReported = Math.max(this.readReported, read);
    return changed;
  }

  /** Whether the loaded messages hold every message above `lastRead`, so counting them gives the unread count. */
  #coversUnread(): boolean {
    const lastRead = this.lastRead ?? 0;
    const oldest = this.oldestSeq;
    if (oldest === undefined) return this.joined && !this.#replayDue && this.lastSeq <= lastRead;
    return oldest <= lastRead + 1 || !this.hasOlder;
  }

  /** The loaded message at `seq` as it is shown now (our changes on their way included), for checks before a change. */
  messageAt(seq: number): { readonly from: string; readonly current: Current } | undefined {
    const posted = this.#messages.get(seq);
    if (!posted) return undefined;
    return { from: posted.from, current: this.#current(posted, this.#pendingBySeq()) };
  }

  snapshot(): RoomSnapshot {
    this.#snapshot ??= this.#build();
    return this.#snapshot;
  }

  #insert(message: Posted): void {
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

  /** Our changes still to be shown on top of the folds (on their way, their events not seen yet), by message. */
  #pendingBySeq(): Map<number, OwnChange[]> {
    const bySeq = new Map<number, OwnChange[]>();
    for (const change of this.#changes.values()) {
      const list = bySeq.get(change.frame.seq) ?? [];
      list.push(change);
      bySeq.set(change.frame.seq, list);
    }
    return bySeq;
  }

  #current(posted: Posted, pending: ReadonlyMap<number, readonly OwnChange[]>): Current {
    const fold = this.#folds.get(posted.seq);
    let current: Current = fold
      ? fold.state(posted.body, this.me)
      : posted.body === undefined
        ? { deleted: true, reactions: [] }
        : { body: posted.body, deleted: false, reactions: [] };
    for (const change of pending.get(posted.seq) ?? []) {
      if (change.seen || change.state === "failed") continue;
      current = applyChange(current, change.frame);
    }
    return current;
  }

  #build(): RoomSnapshot {
    const items: ChatItem[] = [];
    const shown = new Set<string>();
    const pending = this.#pendingBySeq();
    const currents = new Map<number, Current>();
    const currentOf = (posted: Posted): Current => {
      let current = currents.get(posted.seq);
      if (!current) {
        current = this.#current(posted, pending);
        currents.set(posted.seq, current);
      }
      return current;
    };
    const preview = (seq: number | undefined): { replyTo?: ReplyPreview } => {
      if (seq === undefined) return {};
      const posted = this.#messages.get(seq);
      if (!posted) return { replyTo: { seq, deleted: false } };
      const { body, deleted } = currentOf(posted);
      return { replyTo: quote(seq, posted.from, body, deleted) };
    };
    let unread = 0;
    /** Of them, those above what the inbox counted. */
    let unreadAfterInbox = 0;
    const lastRead = this.lastRead ?? Number.POSITIVE_INFINITY;
    const inboxLatest = this.#inbox?.latest ?? 0;
    for (const seq of this.#sortedSeqs) {
      const posted = this.#messages.get(seq);
      if (!posted) continue;
      const mine = posted.from === this.me;
      const current = currentOf(posted);
      if (!mine && seq > lastRead && !current.deleted) {
        unread += 1;
        if (seq > inboxLatest) unreadAfterInbox += 1;
      }
      const own = mine ? this.#own.get(posted.cid) : undefined;
      if (own) shown.add(posted.cid);
      const failure = (pending.get(seq) ?? []).findLast((change) => change.state === "failed");
      items.push({
        ...this.#item(posted, current, mine, own),
        ...preview(posted.replyTo),
        ...(failure?.failure === undefined
          ? {}
          : { failedChange: { cid: failure.frame.cid, action: failure.frame.t, ...failure.failure } }),
      });
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
        deleted: false,
        reactions: [],
        attachments: own.attachments,
        ...preview(own.replyTo),
        delivery: this.#delivery(own, own.seq),
        ...(own.error === undefined ? {} : { error: own.error }),
      });
    }
    this.#markSeen(items);
    const inbox = this.#inbox;
    const newest = this.#sortedSeqs.at(-1);
    const last =
      inbox?.last && inbox.last.seq > (newest ?? 0)
        ? quote(inbox.last.seq, inbox.last.from, inbox.last.body, inbox.last.deleted === true)
        : preview(newest).replyTo;
    return {
      name: this.name,
      joined: this.joined,
      loading: this.#sortedSeqs.length === 0 && (!this.joined || this.#replayDue),
      items,
      unread: Math.min(
        MAX_UNREAD,
        inbox === undefined || this.#coversUnread() ? unread : inbox.unread + unreadAfterInbox,
      ),
      ...(last === undefined ? {} : { last }),
      hasOlder: this.hasOlder,
      loadingOlder: this.loadingOlder,
      ...(this.historyError === undefined ? {} : { historyError: this.historyError }),
      members: [...this.members].sort(),
      ...(this.memberCount === undefined ? {} : { memberCount: this.memberCount }),
      typing: [...this.typing.keys()].sort(),
    };
  }

  /** Puts the receipt on our newest message (not deleted) at or below the other person's read position. */
  #markSeen(items: ChatItem[]): void {
    const peerRead = this.peerRead;
    if (peerRead === undefined) return;
    let newest: number | undefined;
    for (const [index, item] of items.entries()) {
      if (!item.own || item.deleted || item.seq === undefined || item.seq > peerRead) continue;
      if (newest === undefined || item.seq > (items[newest]?.seq ?? 0)) newest = index;
    }
    const item = newest === undefined ? undefined : items[newest];
    if (newest !== undefined && item) items[newest] = { ...item, seen: true };
  }

  #item(posted: Posted, current: Current, mine: boolean, own: OwnSend | undefined): ChatItem {
    const base: ChatItem = {
      key: own ? posted.cid : posted.id,
      seq: posted.seq,
      cid: posted.cid,
      from: posted.from,
      body: current.body ?? "",
      ts: posted.ts,
      own: mine,
      ...(current.editedAt === undefined ? {} : { editedAt: current.editedAt }),
      deleted: current.deleted,
      reactions: current.reactions,
      attachments: current.deleted ? [] : (posted.attachments ?? []),
      ...(current.saving === undefined ? {} : { saving: current.saving }),
    };
    if (own) return { ...base, delivery: this.#delivery(own, posted.seq), ...(own.error ? { error: own.error } : {}) };
    // Our own messages from another session or an earlier visit: all we can tell is whether they are stored.
    if (mine && posted.seq <= this.persistedUpTo) return { ...base, delivery: "persisted" };
    return base;
  }

  #delivery(own: OwnSend, seq: number | undefined): Delivery {
    if (own.state === "acked" && seq !== undefined && seq <= this.persistedUpTo) return "persisted";
    return own.state;
  }
}

/** `current` as it will be once our change is in: shown while it is on its way. */
function applyChange(current: Current, frame: ChangeFrame): Current {
  if (current.deleted) return current;
  switch (frame.t) {
    case "edit":
      return { ...current, body: frame.body, saving: "edit" };
    case "delete":
      return { deleted: true, reactions: [], saving: "delete" };
    case "react": {
      const reactions = [...current.reactions];
      const index = reactions.findIndex((reaction) => reaction.emoji === frame.emoji);
      const found = reactions[index];
      if (found?.mine === frame.on || (!found && !frame.on)) return current;
      const count = (found?.count ?? 0) + (frame.on ? 1 : -1);
      const next = { emoji: frame.emoji, count, mine: frame.on };
      if (!found) reactions.push(next);
      else if (count > 0) reactions[index] = next;
      else reactions.splice(index, 1);
      return { ...current, reactions };
    }
  }
}

/** How a message is quoted (by a reply, or as a room's newest): who wrote it and the first line of what it says now. */
function quote(seq: number, from: string, body: string | undefined, deleted: boolean): ReplyPreview {
  return { seq, from, deleted, ...(body === undefined ? {} : { excerpt: excerpt(body) }) };
}

/** The first line of text of `body`, cut to {@link EXCERPT_LENGTH}: what a reply quotes of it. */
export function excerpt(body: string): string {
  const line = body.trim().split("\n", 1)[0] ?? "";
  if (line.length <= EXCERPT_LENGTH) return line;
  let end = EXCERPT_LENGTH - 1;
  // Never cut an emoji (a surrogate pair) in half.
  const last = line.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${line.slice(0, end)}…`;
}
