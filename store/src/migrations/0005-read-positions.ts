import type { Kysely } from "kysely";

/**
 * `read_positions`: per room and user, the seq up to which the user has read the room, updated in place as it grows.
 * It is per-user state beside the room's stream, not part of it, so the gateways write it directly.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("read_positions")
    .addColumn("room", "text", (column) => column.notNull())
    .addColumn("reader", "text", (column) => column.notNull())
    .addColumn("seq", "bigint", (column) => column.notNull())
    .addPrimaryKeyConstraint("read_positions_pkey", ["room", "reader"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("read_positions").execute();
}
