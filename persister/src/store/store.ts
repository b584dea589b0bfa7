import type { ChatMessage } from "@parley/protocol";

export interface HistoryQuery {
  readonly room: string;
  /** Only messages with a seq strictly below this; omitted means from the newest. */
  readonly before?: number;
  /** Only messages with a seq strictly above this (used for recovery on join). */
  readonly after?: number;
  readonly limit: number;
}

/**
 * Where messages end up (PostgreSQL in production, PGlite embedded). Both run the same Kysely migrations and queries.
 *
 * Guarantees any implementation must give:
 * - `insert` is idempotent: a message whose `(room, seq)` or `id` is already stored is skipped, never duplicated
 *   and never an error, so a batch can be replayed after a crash.
 * - `insert` is atomic: when it resolves every row is committed; when it rejects none is.
 * - `history` returns messages of one room ordered by ascending seq.
 */
export interface Store {
  /** Applies pending migrations. Safe to call from several processes at once. */
  migrate(): Promise<void>;
  /** Inserts messages; resolves with how many were new. */
  insert(messages: readonly ChatMessage[]): Promise<number>;
  /** With `before`: the `limit` newest messages below it; with `after`: the `limit` oldest above it. Ascending seq. */
  history(query: HistoryQuery): Promise<ChatMessage[]>;
  close(): Promise<void>;
}
