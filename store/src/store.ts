import type { HistoryMessage, ReactionCount, RoomEvent, SearchHit } from "@parley/protocol";

/** A range of a room's event stream. */
export interface EventsQuery {
  readonly room: string;
  /** Only events with a seq strictly above this (recovery on join, the persister's catch-up). */
  readonly after: number;
  /** Only events with a seq strictly below this. */
  readonly before?: number;
  /** Most events returned; below 1 returns none. */
  readonly limit: number;
}

/** A page of a room's messages, as people read them. */
export interface HistoryQuery {
  readonly room: string;
  /** Only messages with a seq strictly below this; omitted means from the newest. */
  readonly before?: number;
  /** Most messages returned; below 1 returns none. */
  readonly limit: number;
  /** Who asks: each reaction says whether they are among its users. */
  readonly viewer: string;
}

/** A message as it stands now, as the history API serves it; a stored message always has its `reactions`. */
export type StoredMessage = Omit<HistoryMessage, "reactions"> & { readonly reactions: readonly ReactionCount[] };

/** Where a page of search results ends: the last hit's message, in the order results are given (newest first). */
export interface SearchPosition {
  readonly ts: number;
  readonly room: string;
  readonly seq: number;
}

/** A full-text search of the messages one user may read. */
export interface SearchQuery {
  /** Who searches: only plain rooms and their own direct rooms are searched. */
  readonly user: string;
  /**
   * Words to find, in web-search syntax: all of the words, `"a quoted phrase"`, `-excluded`, `either OR or`. Words
   * are matched whole and case-insensitively, without stemming (the `simple` text-search configuration).
   */
  readonly q: string;
  /** Only this room. */
  readonly room?: string;
  /** Only hits after this position (older ones), to page on from the last hit of the previous page. */
  readonly before?: SearchPosition;
  /** Most hits returned; below 1 returns none. */
  readonly limit: number;
}

/** What an edit, deletion, reaction or reply needs to know about the message it names. */
export interface MessageTarget {
  readonly from: string;
  readonly deleted: boolean;
}

/**
 * A room of a user's inbox as far as it is stored. Everything up to the room's persisted watermark is in the Store;
 * what is above it the gateway takes from the Bus's recent buffer.
 */
export interface InboxRow {
  readonly room: string;
  /** The user's read position (0 if none is saved). */
  readonly read: number;
  /** The room's persisted watermark (0 if none is saved). */
  readonly watermark: number;
  /**
   * Messages of other users with a seq above `read` and at most `watermark`, deleted ones not counted; at most
   * `MAX_UNREAD`.
   */
  readonly unread: number;
  /** The room's newest stored message as it stands now, without reactions; absent while none is stored. */
  readonly last?: Omit<StoredMessage, "reactions">;
}

/** Seqs `from..to` (inclusive) of a room that were assigned but will never be stored. */
export interface LostRange {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/** A file as the gateway recorded it when it granted the upload (its bytes are in the ObjectStore under `id`). */
export interface NewFile {
  readonly id: string;
  readonly room: string;
  readonly uploader: string;
  readonly name: string;
  readonly size: number;
  readonly type: string;
  /** When the upload was granted, ms since the epoch. */
  readonly createdAt: number;
}

/** A recorded file and how far it got: claimed by a `send`, stored with its message, deleted with it. */
export interface FileRecord extends NewFile {
  /** The `cid` of the send that claimed it as an attachment, once one did. */
  readonly claimedBy?: string;
  /** The seq of the stored message that carries it, once that message is stored. */
  readonly seq?: number;
  /** Its message was deleted: its bytes are deleted (or about to be) and nobody may fetch it. */
  readonly deleted: boolean;
}

/**
 * Where messages end up (PostgreSQL in production, PGlite embedded). Both run the same Kysely migrations and queries.
 *
 * Guarantees any implementation must give:
 * - `insert` is idempotent: an event whose `(room, seq)` or `id` is already stored is skipped, never duplicated
 *   and never an error, so a batch can be replayed after a crash.
 * - The state of a message does not depend on the order its events are inserted in (gateways append to the Log
 *   independently, so a room's events may arrive out of seq order): its latest edit by seq wins, a deletion wins
 *   over every edit, and each user's latest reaction event per emoji is their reaction.
 * - Once a message is deleted, neither its body nor the body of any of its edits is kept, whichever arrives first.
 * - `insert` is atomic: when it resolves every row is committed; when it rejects none is.
 * - `insert` rejects with a non-retriable `ParleyError` when the data itself can never be stored (the database
 *   refuses a value), so a caller can set those messages aside; any other rejection may succeed when retried.
 * - `events` and `history` return one room's events or messages ordered by ascending seq; `events` gives a deleted
 *   message and each of its edits as a deletion at their own seq (a tombstone), so the stream stays gap-free.
 * - A room's saved watermark only grows (`saveWatermarks` ignores lower values), and `roomsBehind` lists every room
 *   with a message stored above it, or with messages and none saved.
 * - `search` matches a message's current body only (its latest edit's, or its own): a word edited away is no longer
 *   found, a deleted message never is, and it never returns a direct room the searching user is not a member of.
 *   Hits come newest first, by `(ts, room, seq)` descending (rooms compared bytewise), a total order, so paging
 *   with `before` set to the last hit's position gives every hit exactly once.
 * - A user's inbox holds the rooms they were added to and not removed from since, and every direct room of theirs
 *   with a message stored: inserting a message of `dm:<a>:<b>` adds the room for both (again, if one was removed).
 * - Files: `addFile` of the same id again is a no-op. A file is claimed by at most one `send` (`claimFiles`, only by
 *   its uploader in its room; claiming again with the same cid is a no-op, so a retried send passes). Storing a
 *   message with attachments records its seq on each of its files (of that room and sender); a deleted message's files
 *   are `deleted`, whichever of the message and its deletion arrives first, and its attachments are no longer given.
 *   `filesToSweep` lists the files whose bytes must go: granted before the cutoff and carried by no stored message,
 *   or deleted and not yet forgotten; `forgetFiles` removes the first kind and keeps the second as `deleted`.
 * - Lost ranges are recorded once each (`recordLost` of the same range again is a no-op) and listed in ascending
 *   order.
 */
export interface Store {
  /** Applies pending migrations. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /** Inserts events of any rooms; resolves with how many were new. */
  insert(events: readonly RoomEvent[]): Promise<number>;
  /** The `limit` oldest events above `after` (and below `before`, if given), ascending. */
  events(query: EventsQuery): Promise<RoomEvent[]>;
  /** The `limit` newest messages (below `before`, if given), ascending, as they stand now. */
  history(query: HistoryQuery): Promise<StoredMessage[]>;
  /** The `limit` newest messages matching `q` that `user` may read (below `before`, if given), newest first. */
  search(query: SearchQuery): Promise<SearchHit[]>;
  /** The room's highest stored seq, of any kind of event (0 for none): where a Bus that lost its counter goes on. */
  latest(room: string): Promise<number>;
  /** The message at `seq` in `room`, if one is stored there (an edit, deletion or reaction is not a message). */
  target(room: string, seq: number): Promise<MessageTarget | undefined>;
  /** The room's persisted watermark (0 when none was saved). */
  watermark(room: string): Promise<number>;
  /**
   * Saves the watermarks of many rooms in one atomic call; a value lower than a room's saved one is ignored, so each
   * only grows.
   */
  saveWatermarks(watermarks: ReadonlyMap<string, number>): Promise<void>;
  /**
   * The rooms with a message stored above their saved watermark (or with none saved): where a persister that
   * starts, or takes rooms over, has work even if no new message arrives.
   */
  roomsBehind(): Promise<string[]>;
  /** Records a lost range; recording the same range again is a no-op. */
  recordLost(room: string, range: LostRange): Promise<void>;
  /** Lost ranges of the room ending above `after`, ascending. */
  lostRanges(room: string, after: number): Promise<LostRange[]>;
  /** Records that `user` has read `room` up to `seq`; a lower value than the saved one is ignored, so it only grows. */
  saveRead(room: string, user: string, seq: number): Promise<void>;
  /** The saved read positions of `users` in `room` (users without one are absent). */
  readPositions(room: string, users: readonly string[]): Promise<Map<string, number>>;
  /** Puts `room` in the user's inbox; resolves with whether it was not there yet. */
  addMember(room: string, user: string): Promise<boolean>;
  /** Takes `room` out of the user's inbox; resolves with whether it was there. */
  removeMember(room: string, user: string): Promise<boolean>;
  /**
   * The user's inbox by room name; with `rooms`, only those rooms, whether in the inbox or not (a direct room gets a
   * live update before its first message is stored).
   */
  inbox(user: string, rooms?: readonly string[]): Promise<InboxRow[]>;
  /** Records a granted upload; recording the same id again is a no-op. */
  addFile(file: NewFile): Promise<void>;
  /** The file with this id, if one is recorded (and not forgotten). */
  file(id: string): Promise<FileRecord | undefined>;
  /**
   * Claims `ids` for the send `cid` where each is `uploader`'s, in `room`, and unclaimed or claimed by `cid` already;
   * resolves with every recorded file of `ids` as it stands after (the caller checks each was claimed by `cid`).
   */
  claimFiles(room: string, uploader: string, ids: readonly string[], cid: string): Promise<FileRecord[]>;
  /**
   * At most `limit` files whose bytes are to be deleted: granted before `grantedBefore` and carried by no stored
   * message, or of a deleted message and not yet forgotten.
   */
  filesToSweep(grantedBefore: number, limit: number): Promise<FileRecord[]>;
  /** After their bytes were deleted: unattached files are dropped, deleted messages' files stay as `deleted`. */
  forgetFiles(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
