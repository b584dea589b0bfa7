import { type ChatMessage, ParleyError } from "@parley/protocol";
import { type Kysely, Migrator, type Selectable, sql } from "kysely";
import { migrationProvider } from "./migrations/index.js";
import type { Database, MessagesTable } from "./schema.js";
import type { HistoryQuery, LostRange, Store } from "./store.js";

const COLUMNS = [
  "room",
  "seq",
  "id",
  "cid",
  "sender",
  "body",
  "ts",
] as const satisfies readonly (keyof MessagesTable)[];
/**
 * SQLSTATE classes meaning "this data can never be stored" (22 data exception, e.g. a NUL character in text;
 * 23 integrity constraint violation), as opposed to the database being unavailable: retrying cannot help.
 */
const DATA_ERROR_CLASSES = new Set(["22", "23"]);

/**
 * The Store over Kysely, the same for PostgreSQL (`createPostgresStore`) and PGlite (`createPgliteStore`): one
 * schema, one set of migrations, one set of queries.
 */
export class KyselyStore implements Store {
  readonly #db: Kysely<Database>;
  #closing: Promise<void> | undefined;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Kysely's migrator holds a PostgreSQL advisory lock while it runs, so concurrent callers apply each migration once. */
  async migrate(): Promise<void> {
    const migrator = new Migrator({ db: this.#db, provider: migrationProvider });
    const { error, results = [] } = await migrator.migrateToLatest();
    if (error === undefined) return;
    const failed = results.find((result) => result.status === "Error")?.migrationName ?? "the migration state";
    throw new ParleyError(`migration failed at ${failed}: ${errorMessage(error)}`, { retriable: true, cause: error });
  }

  /**
   * One `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING` (no conflict target, so a clash on either the
   * primary key or the unique id is skipped): seven array parameters whatever the batch size, so no chunking under
   * PostgreSQL's bind-parameter limit, and one statement, so atomic. It writes about half as fast again as a
   * multi-row VALUES list (docs/benchmarks.md). Data the database rejects outright fails with a non-retriable
   * {@link ParleyError}.
   */
  async insert(messages: readonly ChatMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    const column = <T>(pick: (message: ChatMessage) => T) => messages.map(pick);
    try {
      const result = await sql`
        INSERT INTO messages (room, seq, id, cid, sender, body, ts)
        SELECT * FROM unnest(
          ${column((m) => m.room)}::text[], ${column((m) => m.seq)}::bigint[], ${column((m) => m.id)}::text[],
          ${column((m) => m.cid)}::text[], ${column((m) => m.from)}::text[], ${column((m) => m.body)}::text[],
          ${column((m) => m.ts)}::bigint[])
        ON CONFLICT DO NOTHING`.execute(this.#db);
      return Number(result.numAffectedRows ?? 0n);
    } catch (error) {
      throw classify(error);
    }
  }

  async history({ room, before, after, limit }: HistoryQuery): Promise<ChatMessage[]> {
    if (limit < 1) return [];
    let query = this.#db.selectFrom("messages").select(COLUMNS).where("room", "=", room);
    if (after !== undefined) query = query.where("seq", ">", after);
    if (before !== undefined) query = query.where("seq", "<", before);
    // With `after`, the oldest above it; otherwise the newest (below `before`), read backwards and turned around.
    const rows = await query
      .orderBy("seq", after === undefined ? "desc" : "asc")
      .limit(limit)
      .execute();
    if (after === undefined) rows.reverse();
    return rows.map(toMessage);
  }

  async watermark(room: string): Promise<number> {
    const row = await this.#db
      .selectFrom("room_watermarks")
      .select("up_to")
      .where("room", "=", room)
      .executeTakeFirst();
    return row === undefined ? 0 : toNumber(row.up_to, "room_watermarks.up_to");
  }

  /** One `INSERT ... SELECT FROM unnest(...)`, like `insert`: two array parameters however many rooms. */
  async saveWatermarks(watermarks: ReadonlyMap<string, number>): Promise<void> {
    if (watermarks.size === 0) return;
    await sql`
      INSERT INTO room_watermarks (room, up_to)
      SELECT * FROM unnest(${[...watermarks.keys()]}::text[], ${[...watermarks.values()]}::bigint[])
      ON CONFLICT (room) DO UPDATE SET up_to = greatest(room_watermarks.up_to, excluded.up_to)`.execute(this.#db);
  }

  /**
   * Walks the distinct rooms of `messages` down its primary key (one index probe per room, as PostgreSQL has no
   * skip scan), and keeps those whose highest seq is above their saved watermark, or that have none.
   */
  async roomsBehind(): Promise<string[]> {
    const result = await sql<{ room: string }>`
      WITH RECURSIVE rooms(room) AS (
        (SELECT room FROM messages ORDER BY room LIMIT 1)
        UNION ALL
        SELECT (SELECT m.room FROM messages m WHERE m.room > rooms.room ORDER BY m.room LIMIT 1)
        FROM rooms WHERE rooms.room IS NOT NULL
      )
      SELECT rooms.room FROM rooms
      LEFT JOIN room_watermarks w ON w.room = rooms.room
      WHERE rooms.room IS NOT NULL
        AND (SELECT max(m.seq) FROM messages m WHERE m.room = rooms.room) > coalesce(w.up_to, 0)
      ORDER BY rooms.room`.execute(this.#db);
    return result.rows.map((row) => row.room);
  }

  async recordLost(room: string, { from, to, reason }: LostRange): Promise<void> {
    await this.#db
      .insertInto("lost_ranges")
      .values({ room, from_seq: from, to_seq: to, reason, recorded_at: Date.now() })
      .onConflict((conflict) => conflict.doNothing())
      .execute();
  }

  async lostRanges(room: string, after: number): Promise<LostRange[]> {
    const rows = await this.#db
      .selectFrom("lost_ranges")
      .select(["from_seq", "to_seq", "reason"])
      .where("room", "=", room)
      .where("to_seq", ">", after)
      .orderBy("from_seq")
      .execute();
    return rows.map((row) => ({
      from: toNumber(row.from_seq, "lost_ranges.from_seq"),
      to: toNumber(row.to_seq, "lost_ranges.to_seq"),
      reason: row.reason,
    }));
  }

  close(): Promise<void> {
    this.#closing ??= this.#db.destroy();
    return this.#closing;
  }
}

function toMessage(row: Pick<Selectable<MessagesTable>, (typeof COLUMNS)[number]>): ChatMessage {
  const { room, id, cid, sender, body } = row;
  return {
    room,
    seq: toNumber(row.seq, "messages.seq"),
    id,
    cid,
    from: sender,
    body,
    ts: toNumber(row.ts, "messages.ts"),
  };
}

function toNumber(value: string | number | bigint, column: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number)) {
    throw new ParleyError(`${column} holds ${value}, beyond a safe integer`, { retriable: false });
  }
  return number;
}

/** Marks errors caused by the data itself as not retriable; everything else (connections, outages) stays retriable. */
function classify(error: unknown): unknown {
  const code = typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
  if (typeof code !== "string" || !DATA_ERROR_CLASSES.has(code.slice(0, 2))) return error;
  return new ParleyError(`the database rejected the messages (${code}): ${errorMessage(error)}`, {
    retriable: false,
    cause: error,
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
