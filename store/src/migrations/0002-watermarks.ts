import type { Kysely } from "kysely";

/**
 * Tables behind the persisted watermark.
 * - `room_watermarks`: per room, the seq up to which every message is stored or recorded lost; it only grows, and
 *   lets a restarted persister resume without rescanning the room.
 * - `lost_ranges`: seqs that were assigned but whose message never reached the log and could not be repaired from
 *   the recent buffer (a gateway died between sequencing and appending, or Redis lost data). Kept so the loss is
 *   visible and recovery can say it is complete.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("room_watermarks")
    .addColumn("room", "text", (column) => column.primaryKey())
    .addColumn("up_to", "bigint", (column) => column.notNull())
    .execute();
  await db.schema
    .createTable("lost_ranges")
    .addColumn("room", "text", (column) => column.notNull())
    .addColumn("from_seq", "bigint", (column) => column.notNull())
    .addColumn("to_seq", "bigint", (column) => column.notNull())
    .addColumn("reason", "text", (column) => column.notNull())
    .addColumn("recorded_at", "bigint", (column) => column.notNull())
    .addPrimaryKeyConstraint("lost_ranges_pkey", ["room", "from_seq"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("lost_ranges").execute();
  await db.schema.dropTable("room_watermarks").execute();
}
