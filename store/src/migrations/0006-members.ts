import { type Kysely, sql } from "kysely";

/**
 * `room_members`: the rooms in each user's inbox, one row per user and room: a room they joined and have not left,
 * and a direct room once it has a message to or from them. Keyed by user first, as it is read (a user's inbox).
 *
 * Filled from what earlier versions stored: the rooms a user has a read position in, and the direct rooms with a
 * message (their users are the second and third fields of the name, `dm:<a>:<b>`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("room_members")
    .addColumn("member", "text", (column) => column.notNull())
    .addColumn("room", "text", (column) => column.notNull())
    .addPrimaryKeyConstraint("room_members_pkey", ["member", "room"])
    .execute();
  await sql`
    INSERT INTO room_members (member, room)
    SELECT reader, room FROM read_positions
    UNION
    SELECT split_part(d.room, ':', n), d.room
    FROM (SELECT DISTINCT room FROM messages WHERE left(room, 3) = 'dm:' AND kind = 'msg') d, (VALUES (2), (3)) AS v(n)
    ON CONFLICT DO NOTHING`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("room_members").execute();
}
