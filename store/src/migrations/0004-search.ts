import { type Kysely, sql } from "kysely";

/**
 * `messages_search`: a GIN index of the words of every body a message or an edit holds, for `search`. The `simple`
 * text-search configuration (lower-cased words, no stemming, no stop words) is language-neutral, as a chat room can
 * be in any language. Deletions and reactions, which have no body, are left out, and so are the bodies a deletion
 * empties: `''` has no words.
 *
 * A query uses it only when it repeats the same expression (`to_tsvector('simple', body)`) and a predicate implying
 * `kind IN ('msg', 'edit')`. On a database with messages, building it reads the table once while it is locked.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex("messages_search")
    .on("messages")
    .using("gin")
    .expression(sql`to_tsvector('simple', body)`)
    .where(sql<boolean>`kind IN ('msg', 'edit')`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("messages_search").execute();
}
