import type { ChatMessage } from "@parley/protocol";

export interface HistoryQuery {
  readonly room: string;
  /** Only messages with a seq strictly below this; omitted means from the newest. */
  readonly before?: number;
  /** Only messages with a seq strictly above this (used for recovery on join). */
  readonly after?: number;
  /** Most messages returned; below 1 returns none. */
  readonly limit: number;
}

/** Seqs `from..to` (inclusive) of a room that were assigned but will never be stored. */
export interface LostRange {
  readonly from: number;
  readonly to: number;
  readonly reason: string;
}

/**
 * Where messages end up (PostgreSQL in production, PGlite embedded). Both run the same Kysely migrations and queries.
 *
 * Guarantees any implementation must give:
 * - `insert` is idempotent: a message whose `(room, seq)` or `id` is already stored is skipped, never duplicated
 *   and never an error, so a batch can be replayed after a crash.
 * - `insert` is atomic: when it resolves every row is committed; when it rejects none is.
 * - `insert` rejects with a non-retriable `ParleyError` when the data itself can never be stored (the database
 *   refuses a value), so a caller can set those messages aside; any other rejection may succeed when retried.
 * - `history` returns messages of one room ordered by ascending seq.
 * - A room's saved watermark only grows (`saveWatermarks` ignores lower values), and `roomsBehind` lists every room
 *   with a message stored above it, or with messages and none saved.
 * - Lost ranges are recorded once each (`recordLost` of the same range again is a no-op) and listed in ascending
 *   order.
 */
export interface Store {
  /** Applies pending migrations. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /** Inserts messages; resolves with how many were new. */
  insert(messages: readonly ChatMessage[]): Promise<number>;
  /**
   * With `after`: the `limit` oldest messages above it (and below `before`, if given); otherwise the `limit` newest
   * (below `before`, if given). Ascending seq either way.
   */
  history(query: HistoryQuery): Promise<ChatMessage[]>;
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
  close(): Promise<void>;
}
