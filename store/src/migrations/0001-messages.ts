import type { Kysely } from "kysely";

/**
 * The `messages` table.
 * - Primary key `(room, seq)`: a seq is never stored twice for a room. Its index also serves every history query
 *   (`room = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, or `seq > $2 ... ASC`), so there is no other index.
 * - `id` unique: the same message is never stored under two seqs.
 * - `ts` is milliseconds since the epoch in a bigint, exactly as on the wire: any valid envelope fits, and it
 *   round-trips without time-zone or precision conversions (`to_timestamp(ts / 1000.0)` for a timestamptz).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("messages")
    .addColumn("room", "text", (column) => column.notNull())
    .addColumn("seq", "bigint", (column) => column.notNull())
    .addColumn("id", "text", (column) => column.notNull())
    .addColumn("cid", "text", (column) => column.notNull())
    .addColumn("sender", "text", (column) => column.notNull())
    .addColumn("body", "text", (column) => column.notNull())
    .addColumn("ts", "bigint", (column) => column.notNull())
    .addPrimaryKeyConstraint("messages_pkey", ["room", "seq"])
    .addUniqueConstraint("messages_id_key", ["id"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("messages").execute();
}
