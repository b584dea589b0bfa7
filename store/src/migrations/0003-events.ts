import { type Kysely, sql } from "kysely";

/**
 * Edits, deletions and reactions join the messages in `messages`, one row per seq, so a room's stream stays one
 * gap-free sequence under one primary key: watermarks, `roomsBehind` and catch-up reads treat every kind alike.
 * - `kind` tells the four apart; the rows already stored are messages (`'msg'`, the default, which PostgreSQL adds
 *   without rewriting the table). `body` stays not null: rows without one, and bodies dropped by a deletion, hold
 *   `''`, which no real body is.
 * - `target` is the seq of the message an edit, deletion or reaction names; `reply_to` the message a message
 *   answers; `emoji` and `reaction_on` are a reaction's. The check constraint refuses a row of the wrong shape, so a
 *   bug shows as a non-retriable data error rather than as state nobody can read.
 * - `messages_target` serves every per-message lookup of a history page (the latest edit, the reactions) as index
 *   ranges; only rows with a target are in it, so plain messages pay nothing for it.
 * - `messages_deletions` holds only deletions: small, so the probe every inserted message and edit makes ("was I
 *   deleted before I arrived?") stays cheap whatever the size of the table.
 *
 * On a database with messages, the constraint and each index read the table once, while the migration holds it
 * locked: inserts wait for that, so plan the upgrade of a large table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable("messages")
    .addColumn("kind", "text", (column) => column.notNull().defaultTo("msg"))
    .addColumn("target", "bigint")
    .addColumn("reply_to", "bigint")
    .addColumn("emoji", "text")
    .addColumn("reaction_on", "boolean")
    .execute();
  await db.schema
    .alterTable("messages")
    .addCheckConstraint(
      "messages_kind_check",
      sql`(kind = 'msg' AND target IS NULL AND emoji IS NULL AND reaction_on IS NULL)
        OR (kind IN ('edit', 'delete') AND target IS NOT NULL AND reply_to IS NULL AND emoji IS NULL
          AND reaction_on IS NULL)
        OR (kind = 'react' AND target IS NOT NULL AND reply_to IS NULL AND emoji IS NOT NULL
          AND reaction_on IS NOT NULL)`,
    )
    .execute();
  await db.schema
    .createIndex("messages_target")
    .on("messages")
    .columns(["room", "target", "kind", "seq"])
    .where(sql.ref("target"), "is not", null)
    .execute();
  await db.schema
    .createIndex("messages_deletions")
    .on("messages")
    .columns(["room", "target"])
    .where(sql<boolean>`kind = 'delete'`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("messages_deletions").execute();
  await db.schema.dropIndex("messages_target").execute();
  await db.schema.alterTable("messages").dropConstraint("messages_kind_check").execute();
  await db.schema
    .alterTable("messages")
    .dropColumn("reaction_on")
    .dropColumn("emoji")
    .dropColumn("reply_to")
    .dropColumn("target")
    .dropColumn("kind")
    .execute();
}
