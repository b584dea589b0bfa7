import { type Kysely, sql } from "kysely";

/**
 * File sharing. `messages.attachments`: a message's files as JSON text (`[{id, name, size, type}]`, in the order the
 * sender gave them), null when it has none and once it is deleted. `files`: every granted upload, whether or not a
 * message carries it yet (`seq`), which `send` claimed it (`claimed_by`), and whether its message was deleted and its
 * bytes deleted since (`deleted`, `swept`). Indexed for the sweeper's two questions (unattached files by age, deleted
 * ones not swept) and for a message's files by `(room, seq)`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("messages").addColumn("attachments", "text").execute();
  await db.schema
    .createTable("files")
    .addColumn("id", "text", (column) => column.primaryKey())
    .addColumn("room", "text", (column) => column.notNull())
    .addColumn("uploader", "text", (column) => column.notNull())
    .addColumn("name", "text", (column) => column.notNull())
    .addColumn("size", "bigint", (column) => column.notNull())
    .addColumn("type", "text", (column) => column.notNull())
    .addColumn("created_at", "bigint", (column) => column.notNull())
    .addColumn("claimed_by", "text")
    .addColumn("seq", "bigint")
    .addColumn("deleted", "boolean", (column) => column.notNull().defaultTo(false))
    .addColumn("swept", "boolean", (column) => column.notNull().defaultTo(false))
    .execute();
  await db.schema.createIndex("files_message").on("files").columns(["room", "seq"]).execute();
  await sql`CREATE INDEX files_unattached ON files (created_at) WHERE seq IS NULL`.execute(db);
  await sql`CREATE INDEX files_unswept ON files (id) WHERE deleted AND NOT swept`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("files").execute();
  await db.schema.alterTable("messages").dropColumn("attachments").execute();
}
