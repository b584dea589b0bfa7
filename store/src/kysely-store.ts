import {
  type Attachment,
  type ChatMessage,
  type Deletion,
  dmMembers,
  isMessage,
  MAX_UNREAD,
  ParleyError,
  type ReactionCount,
  type RoomEvent,
  type SearchHit,
} from "@parley/protocol";
import { MicroBatcher } from "@parley/runtime";
import { type Kysely, Migrator, sql, type Transaction } from "kysely";
import { migrationProvider } from "./migrations/index.js";
import type { Database, EventKind } from "./schema.js";
import type {
  EventsQuery,
  FileRecord,
  HistoryQuery,
  InboxRow,
  LostRange,
  MessageTarget,
  NewFile,
  SearchPosition,
  SearchQuery,
  Store,
  StoredMessage,
} from "./store.js";

/**
 * SQLSTATE classes meaning "this data can never be stored" (22 data exception, e.g. a NUL character in text;
 * 23 integrity constraint violation), as opposed to the database being unavailable: retrying cannot help.
 */
const DATA_ERROR_CLASSES = new Set(["22", "23"]);

/** A row of `messages` as the reads select it, with whether the message it is or edits was deleted. */
interface EventRow {
  readonly seq: string | number | bigint;
  readonly id: string;
  readonly cid: string;
  readonly sender: string;
  readonly body: string;
  readonly ts: string | number | bigint;
  readonly kind: EventKind;
  readonly target: string | number | bigint | null;
  readonly reply_to: string | number | bigint | null;
  readonly emoji: string | null;
  readonly reaction_on: boolean | null;
  readonly attachments: string | null;
  readonly deleted: boolean;
}

/** A message of a history page with what changed it since. */
interface HistoryRow
  extends Pick<EventRow, "seq" | "id" | "cid" | "sender" | "body" | "ts" | "reply_to" | "attachments" | "deleted"> {
  /** The latest edit's, by seq; null when never edited. */
  readonly edited_body: string | null;
  readonly edited_at: string | number | bigint | null;
  /** JSON, in the order the emoji were first used; null when none has a user. */
  readonly reactions: readonly ReactionCount[] | null;
}

/** A room of an inbox with its newest message's columns (all null while it has none). */
interface InboxQueryRow {
  readonly room: string;
  readonly read: string | number | bigint;
  readonly watermark: string | number | bigint;
  readonly unread: string | number | bigint;
  readonly seq: string | number | bigint | null;
  readonly id: string | null;
  readonly cid: string | null;
  readonly sender: string | null;
  readonly body: string | null;
  readonly ts: string | number | bigint | null;
  readonly reply_to: string | number | bigint | null;
  readonly attachments: string | null;
  readonly deleted: boolean | null;
  readonly edited_body: string | null;
  readonly edited_at: string | number | bigint | null;
}

/** A message a search found, as it stands now. */
interface SearchRow extends Pick<EventRow, "seq" | "id" | "cid" | "sender" | "body" | "ts" | "reply_to"> {
  readonly room: string;
  /** The latest edit's ts; null when never edited. */
  readonly edited_at: string | number | bigint | null;
}

/**
 * The Store over Kysely, the same for PostgreSQL (`createPostgresStore`) and PGlite (`createPgliteStore`): one
 * schema, one set of migrations, one set of queries.
 *
 * Every event is a row of `messages`, kept as it arrived, and a message's state is worked out when it is read: its
 * latest edit by seq, whether any deletion names it, each user's reaction event with the highest seq. No later event
 * rewrites an earlier one's row except to empty a body a deletion drops, which reads ignore anyway (they look for the
 * deletion), so the order events are inserted in cannot change what is read.
 */
export class KyselyStore implements Store {
  readonly #db: Kysely<Database>;
  #closing: Promise<void> | undefined;
  /**
   * Every join asks for its read positions and a first join on a connection adds its room to the user's inbox: in a
   * reconnect storm thousands of each at once. Those made while one is in flight go to the database as one statement.
   */
  readonly #memberships = new MicroBatcher<MembershipRequest>({
    send: (requests) => this.#addMembers(requests),
    ...JOIN_BATCH,
  });
  readonly #positions = new MicroBatcher<PositionsRequest>({
    send: (requests) => this.#readPositions(requests),
    ...JOIN_BATCH,
  });

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
   * primary key or the unique id is skipped): one array parameter per column whatever the batch size, so no chunking
   * under PostgreSQL's bind-parameter limit. It writes about half as fast again as a multi-row VALUES list
   * (docs/benchmarks.md). Data the database rejects outright fails with a non-retriable {@link ParleyError}.
   *
   * Bodies a deletion drops are cleared in the same call, whichever arrives first: a message or edit coming after
   * its deletion is written with an empty body (a probe of the small `messages_deletions` index per row), and a
   * batch with deletions then empties the bodies they name, in the same transaction. A batch without deletions, the
   * usual one, stays a single statement.
   *
   * The probe sees the deletions committed when its statement starts, so two concurrent calls, one with a message
   * and one with its deletion, could each miss the other and keep that body (never returned: reads look for the
   * deletion). Closing that would cost every batch a transaction and locks; the persister never does it, as a
   * room's events come from one partition, whose offsets are committed only once their batch is stored.
   */
  async insert(events: readonly RoomEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const deletions = events.filter(isDeletion);
    const direct = directMembers(events);
    const withFiles = events.filter(hasAttachments);
    try {
      if (deletions.length === 0 && direct.length === 0 && withFiles.length === 0) {
        return await insertRows(this.#db, events);
      }
      return await this.#db.transaction().execute(async (transaction) => {
        const inserted = await insertRows(transaction, events);
        if (withFiles.length > 0) await attachFiles(transaction, withFiles);
        if (deletions.length > 0) await dropDeletedBodies(transaction, deletions);
        if (direct.length > 0) await addMembers(transaction, direct);
        return inserted;
      });
    } catch (error) {
      throw classify(error);
    }
  }

  /** Read down the primary key; the deletion check is a probe of `messages_deletions` per message or edit. */
  async events({ room, after, before, limit }: EventsQuery): Promise<RoomEvent[]> {
    if (limit < 1) return [];
    const result = await sql<EventRow>`
      SELECT m.seq, m.id, m.cid, m.sender, m.body, m.ts, m.kind, m.target, m.reply_to, m.emoji, m.reaction_on,
        m.attachments, gone.deleted IS NOT NULL AS deleted
      FROM (
        SELECT * FROM messages
        WHERE room = ${room} AND seq > ${after} ${before === undefined ? sql`` : sql`AND seq < ${before}`}
        ORDER BY seq
        LIMIT ${limit}
      ) m
      ${deletionOf("m")}
      ORDER BY m.seq`.execute(this.#db);
    return result.rows.map((row) => toEvent(room, row));
  }

  /**
   * One statement: the page's messages (the newest below `before`, read backwards down the primary key), then, per
   * message, index ranges of `messages_target` for its latest edit and its reactions, and a probe for a deletion.
   * Each user's reaction is their event with the highest seq (a window over their events), so neither a repeated
   * reaction nor the order of arrival changes the count.
   */
  async history({ room, before, limit, viewer }: HistoryQuery): Promise<StoredMessage[]> {
    if (limit < 1) return [];
    const result = await sql<HistoryRow>`
      WITH page AS (
        SELECT room, seq, id, cid, sender, body, ts, reply_to, attachments, kind, target FROM messages
        WHERE room = ${room} AND kind = 'msg' ${before === undefined ? sql`` : sql`AND seq < ${before}`}
        ORDER BY seq DESC
        LIMIT ${limit}
      ),
      reactions AS (
        SELECT r.target, r.emoji, r.sender, r.seq, r.reaction_on,
          r.seq = max(r.seq) OVER (PARTITION BY r.target, r.emoji, r.sender) AS latest
        FROM messages r
        WHERE r.room = ${room} AND r.kind = 'react' AND r.target IN (SELECT seq FROM page)
      ),
      emoji AS (
        SELECT target, emoji,
          count(*) FILTER (WHERE latest AND reaction_on) AS count,
          bool_or(latest AND reaction_on AND sender = ${viewer}) AS mine,
          min(seq) FILTER (WHERE reaction_on) AS first_used
        FROM reactions
        GROUP BY target, emoji
      ),
      reacted AS (
        SELECT target,
          json_agg(json_build_object('emoji', emoji, 'count', count, 'mine', mine) ORDER BY first_used) AS reactions
        FROM emoji
        WHERE count > 0
        GROUP BY target
      )
      SELECT p.seq, p.id, p.cid, p.sender, p.body, p.ts, p.reply_to, p.attachments,
        gone.deleted IS NOT NULL AS deleted, edit.body AS edited_body, edit.ts AS edited_at, reacted.reactions
      FROM page p
      ${deletionOf("p")}
      ${latestEditOf("p")}
      LEFT JOIN reacted ON reacted.target = p.seq
      ORDER BY p.seq`.execute(this.#db);
    return result.rows.map((row) => toStoredMessage(room, row));
  }

  /**
   * One statement. The words are looked up in `messages_search` (a bitmap scan of the GIN index over the bodies of
   * messages and edits), which gives candidates: every message with a matching body now or in an edit. Each
   * candidate then gets its current body (its latest edit by seq, from `messages_target`) and a deletion probe, and
   * only those whose current body still matches are kept, so a word edited away is not found. Direct rooms are
   * filtered by name: `dm:<a>:<b>` holds no other `:`, so its members are its second and third fields.
   */
  async search({ user, q, room, before, limit }: SearchQuery): Promise<SearchHit[]> {
    if (limit < 1) return [];
    const result = await sql<SearchRow>`
      WITH query AS (SELECT websearch_to_tsquery('simple', ${q}) AS words),
      candidates AS (
        SELECT DISTINCT h.room, coalesce(h.target, h.seq) AS seq
        FROM messages h, query
        WHERE h.kind IN ('msg', 'edit') AND to_tsvector('simple', h.body) @@ query.words
          AND (left(h.room, 3) <> 'dm:' OR split_part(h.room, ':', 2) = ${user} OR split_part(h.room, ':', 3) = ${user})
          ${room === undefined ? sql`` : sql`AND h.room = ${room}`}
      ),
      current AS (
        SELECT m.room, m.seq, m.id, m.cid, m.sender, m.ts, m.reply_to,
          coalesce(edit.body, m.body) AS body, edit.ts AS edited_at
        FROM candidates c
        JOIN messages m ON m.room = c.room AND m.seq = c.seq AND m.kind = 'msg'
        ${deletionOf("m")}
        ${latestEditOf("m")}
        WHERE gone.deleted IS NULL
          ${before === undefined ? sql`` : afterPosition(before)}
      )
      SELECT current.* FROM current, query
      WHERE to_tsvector('simple', current.body) @@ query.words
      ORDER BY current.ts DESC, current.room COLLATE "C" DESC, current.seq DESC
      LIMIT ${limit}`.execute(this.#db);
    return result.rows.map(toSearchHit);
  }

  /** The last entry of the room's primary-key range: one index probe. */
  async latest(room: string): Promise<number> {
    const row = await this.#db
      .selectFrom("messages")
      .select("seq")
      .where("room", "=", room)
      .orderBy("seq", "desc")
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? 0 : toNumber(row.seq, "messages.seq");
  }

  async target(room: string, seq: number): Promise<MessageTarget | undefined> {
    const result = await sql<{ sender: string; deleted: boolean }>`
      SELECT m.sender, gone.deleted IS NOT NULL AS deleted
      FROM messages m
      ${deletionOf("m")}
      WHERE m.room = ${room} AND m.seq = ${seq} AND m.kind = 'msg'`.execute(this.#db);
    const row = result.rows[0];
    return row === undefined ? undefined : { from: row.sender, deleted: row.deleted };
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

  async saveRead(room: string, user: string, seq: number): Promise<void> {
    await this.#db
      .insertInto("read_positions")
      .values({ room, reader: user, seq })
      .onConflict((conflict) =>
        conflict.columns(["room", "reader"]).doUpdateSet({ seq: sql`greatest(read_positions.seq, excluded.seq)` }),
      )
      .execute();
  }

  async readPositions(room: string, users: readonly string[]): Promise<Map<string, number>> {
    const request: PositionsRequest = { room, users, positions: new Map() };
    if (users.length > 0) await this.#positions.add(request);
    return request.positions;
  }

  /** One query for many requests: the positions of all their rooms and readers, each request taking its own. */
  async #readPositions(requests: readonly PositionsRequest[]): Promise<void> {
    const rows = await this.#db
      .selectFrom("read_positions")
      .select(["room", "reader", "seq"])
      .where("room", "in", [...new Set(requests.map((request) => request.room))])
      .where("reader", "in", [...new Set(requests.flatMap((request) => request.users))])
      .execute();
    const found = new Map(
      rows.map((row) => [memberKey(row.room, row.reader), toNumber(row.seq, "read_positions.seq")]),
    );
    for (const { room, users, positions } of requests) {
      for (const user of users) {
        const seq = found.get(memberKey(room, user));
        if (seq !== undefined) positions.set(user, seq);
      }
    }
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

  async addMember(room: string, user: string): Promise<boolean> {
    const request: MembershipRequest = { room, user, added: false };
    await this.#memberships.add(request);
    return request.added;
  }

  /** One insert for many requests; of requests for the same row, the first is the one that added it. */
  async #addMembers(requests: readonly MembershipRequest[]): Promise<void> {
    const rows = new Map(requests.map(({ room, user }) => [memberKey(room, user), { member: user, room }]));
    const inserted = await addMembers(this.#db, [...rows.values()]);
    const added = new Set(inserted.map((row) => memberKey(row.room, row.member)));
    for (const request of requests) request.added = added.delete(memberKey(request.room, request.user));
  }

  async removeMember(room: string, user: string): Promise<boolean> {
    // After every addition asked for before it, which may still wait in the batcher.
    await this.#memberships.flush();
    const result = await this.#db
      .deleteFrom("room_members")
      .where("member", "=", user)
      .where("room", "=", room)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /**
   * One statement: the rooms, each with the user's read position and the room's watermark (primary-key probes), the
   * unread count (the primary-key range between the two, a deletion probe per message, stopped at
   * {@link MAX_UNREAD}), and the newest message (read backwards down the primary key) with its latest edit.
   */
  async inbox(user: string, rooms?: readonly string[]): Promise<InboxRow[]> {
    if (rooms?.length === 0) return [];
    const entries =
      rooms === undefined
        ? sql`SELECT room FROM room_members WHERE member = ${user}`
        : sql`SELECT DISTINCT room FROM unnest(${[...rooms]}::text[]) AS r(room)`;
    const result = await sql<InboxQueryRow>`
      WITH entry AS (
        SELECT entry.room, coalesce(r.seq, 0) AS read, coalesce(w.up_to, 0) AS watermark
        FROM (${entries}) entry
        LEFT JOIN read_positions r ON r.room = entry.room AND r.reader = ${user}
        LEFT JOIN room_watermarks w ON w.room = entry.room
      )
      SELECT entry.room, entry.read, entry.watermark,
        (SELECT count(*) FROM (
          SELECT 1 FROM messages m
          ${deletionOf("m")}
          WHERE m.room = entry.room AND m.seq > entry.read AND m.seq <= entry.watermark AND m.kind = 'msg'
            AND m.sender <> ${user} AND gone.deleted IS NULL
          LIMIT ${MAX_UNREAD}
        ) counted) AS unread,
        p.seq, p.id, p.cid, p.sender, p.body, p.ts, p.reply_to, p.attachments, gone.deleted IS NOT NULL AS deleted,
        edit.body AS edited_body, edit.ts AS edited_at
      FROM entry
      LEFT JOIN LATERAL (
        SELECT room, seq, id, cid, sender, body, ts, reply_to, attachments, kind, target FROM messages
        WHERE room = entry.room AND kind = 'msg'
        ORDER BY seq DESC
        LIMIT 1
      ) p ON true
      ${deletionOf("p")}
      ${latestEditOf("p")}
      ORDER BY entry.room COLLATE "C"`.execute(this.#db);
    return result.rows.map(toInboxRow);
  }

  async addFile(file: NewFile): Promise<void> {
    const { id, room, uploader, name, size, type, createdAt } = file;
    await this.#db
      .insertInto("files")
      .values({ id, room, uploader, name, size, type, created_at: createdAt })
      .onConflict((conflict) => conflict.doNothing())
      .execute();
  }

  async file(id: string): Promise<FileRecord | undefined> {
    const row = await this.#db.selectFrom("files").selectAll().where("id", "=", id).executeTakeFirst();
    return row === undefined ? undefined : toFileRecord(row);
  }

  async claimFiles(room: string, uploader: string, ids: readonly string[], cid: string): Promise<FileRecord[]> {
    if (ids.length === 0) return [];
    await this.#db
      .updateTable("files")
      .set({ claimed_by: cid })
      .where("id", "in", [...ids])
      .where("room", "=", room)
      .where("uploader", "=", uploader)
      .where("claimed_by", "is", null)
      .execute();
    const rows = await this.#db
      .selectFrom("files")
      .selectAll()
      .where("id", "in", [...ids])
      .execute();
    return rows.map(toFileRecord);
  }

  /** Two index ranges: unattached files by age (`files_unattached`), deleted ones not swept (`files_unswept`). */
  async filesToSweep(grantedBefore: number, limit: number): Promise<FileRecord[]> {
    if (limit < 1) return [];
    const result = await sql<FileRow>`
      (SELECT * FROM files WHERE seq IS NULL AND created_at < ${grantedBefore} ORDER BY created_at LIMIT ${limit})
      UNION ALL
      (SELECT * FROM files WHERE deleted AND NOT swept ORDER BY id LIMIT ${limit})
      LIMIT ${limit}`.execute(this.#db);
    return result.rows.map(toFileRecord);
  }

  async forgetFiles(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#db.transaction().execute(async (transaction) => {
      await transaction
        .deleteFrom("files")
        .where("id", "in", [...ids])
        .where("seq", "is", null)
        .execute();
      await transaction
        .updateTable("files")
        .set({ swept: true })
        .where("id", "in", [...ids])
        .where("deleted", "=", true)
        .execute();
    });
  }

  close(): Promise<void> {
    this.#closing ??= Promise.all([this.#memberships.flush(), this.#positions.flush()]).then(() => this.#db.destroy());
    return this.#closing;
  }
}

/** {@link KyselyStore.addMember}'s call, and its answer once its batch is stored. */
interface MembershipRequest {
  readonly room: string;
  readonly user: string;
  added: boolean;
}

/** {@link KyselyStore.readPositions}'s call, and the positions its batch found. */
interface PositionsRequest {
  readonly room: string;
  readonly users: readonly string[];
  readonly positions: Map<string, number>;
}

/** Most join-time requests in one statement: within PostgreSQL's 65,535 parameters, even two per request. */
const JOIN_BATCH = { maxItems: 1000, maxBytes: Number.POSITIVE_INFINITY, sizeOf: () => 0 };

/** A room and a user as one key (no room or user name holds a newline). */
function memberKey(room: string, user: string): string {
  return `${room}\n${user}`;
}

type Executor = Kysely<Database> | Transaction<Database>;

/**
 * The batch's rows, each with its body emptied if a stored deletion names its message (for an edit, its target);
 * rows already stored under the same `(room, seq)` or id are skipped. Resolves with how many rows were new.
 *
 * A batch of messages alone, the persister's usual one, sends only the eight columns a message has and lets the
 * others take their defaults: parsing the four arrays of nulls and the array of `'msg'` it would otherwise send
 * costs PostgreSQL about 7 % of its insert rate.
 */
async function insertRows(db: Executor, events: readonly RoomEvent[]): Promise<number> {
  const column = <T>(pick: (event: RoomEvent) => T) => events.map(pick);
  const common = sql`
    ${column((e) => e.room)}::text[], ${column((e) => e.seq)}::bigint[], ${column((e) => e.id)}::text[],
    ${column((e) => e.cid)}::text[], ${column((e) => e.from)}::text[], ${column(bodyOf)}::text[],
    ${column((e) => e.ts)}::bigint[]`;
  const plain = events.every((event) => isMessage(event) && event.attachments === undefined);
  const result = plain
    ? await sql`
        INSERT INTO messages (room, seq, id, cid, sender, body, ts, reply_to)
        SELECT e.room, e.seq, e.id, e.cid, e.sender, CASE WHEN gone.deleted THEN '' ELSE e.body END, e.ts, e.reply_to
        FROM (
          SELECT *, 'msg' AS kind, NULL::bigint AS target
          FROM unnest(${common}, ${column((m) => (isMessage(m) ? (m.replyTo ?? null) : null))}::bigint[])
            AS u(room, seq, id, cid, sender, body, ts, reply_to)
        ) e
        ${deletionOf("e")}
        ON CONFLICT DO NOTHING`.execute(db)
    : await sql`
        INSERT INTO messages (room, seq, id, cid, sender, body, ts, kind, target, reply_to, emoji, reaction_on,
          attachments)
        SELECT e.room, e.seq, e.id, e.cid, e.sender, CASE WHEN gone.deleted THEN '' ELSE e.body END,
          e.ts, e.kind, e.target, e.reply_to, e.emoji, e.reaction_on,
          CASE WHEN gone.deleted THEN NULL ELSE e.attachments END
        FROM unnest(
          ${common}, ${column((e) => (isMessage(e) ? "msg" : e.kind))}::text[],
          ${column((e) => (isMessage(e) ? null : e.target))}::bigint[],
          ${column((e) => (isMessage(e) ? (e.replyTo ?? null) : null))}::bigint[],
          ${column((e) => (!isMessage(e) && e.kind === "react" ? e.emoji : null))}::text[],
          ${column((e) => (!isMessage(e) && e.kind === "react" ? e.on : null))}::boolean[],
          ${column((e) => (hasAttachments(e) ? JSON.stringify(e.attachments) : null))}::text[]
        ) AS e(room, seq, id, cid, sender, body, ts, kind, target, reply_to, emoji, reaction_on, attachments)
        ${deletionOf("e")}
        ON CONFLICT DO NOTHING`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

function hasAttachments(event: RoomEvent): event is ChatMessage & { readonly attachments: readonly Attachment[] } {
  return isMessage(event) && event.attachments !== undefined;
}

/**
 * Records on each file the seq of the stored message that carries it (only a file of that room and sender, not yet
 * carried by another), and marks it deleted at once if a deletion of that message is already stored.
 */
async function attachFiles(db: Executor, messages: readonly ChatMessage[]): Promise<void> {
  const named = messages.flatMap((m) => (m.attachments ?? []).map((file) => ({ m, file })));
  await sql`
    UPDATE files f SET seq = u.seq, deleted = gone.deleted IS NOT NULL
    FROM unnest(
      ${named.map(({ m }) => m.room)}::text[], ${named.map(({ m }) => m.seq)}::bigint[],
      ${named.map(({ m }) => m.id)}::text[], ${named.map(({ m }) => m.from)}::text[],
      ${named.map(({ file }) => file.id)}::text[]
    ) AS u(room, seq, message, sender, file)
    JOIN messages stored ON stored.room = u.room AND stored.seq = u.seq AND stored.id = u.message
    LEFT JOIN LATERAL (
      SELECT true AS deleted FROM messages d WHERE d.room = u.room AND d.kind = 'delete' AND d.target = u.seq LIMIT 1
    ) gone ON true
    WHERE f.id = u.file AND f.room = u.room AND f.uploader = u.sender AND f.seq IS NULL`.execute(db);
}

/** Both users of every direct room the batch has a message in, as `room_members` rows. */
function directMembers(events: readonly RoomEvent[]): { member: string; room: string }[] {
  const rooms = new Set(events.filter((event) => isMessage(event) && dmMembers(event.room)).map((event) => event.room));
  return [...rooms].flatMap((room) => (dmMembers(room) ?? []).map((member) => ({ member, room })));
}

/** Puts rooms in inboxes; those already there are left as they are. Gives the rows it added. */
function addMembers(
  db: Executor,
  rows: readonly { member: string; room: string }[],
): Promise<{ member: string; room: string }[]> {
  return db
    .insertInto("room_members")
    .values([...rows])
    .onConflict((conflict) => conflict.doNothing())
    .returning(["room", "member"])
    .execute();
}

/** The `body` column of an event: `''` for the kinds without one. */
function bodyOf(event: RoomEvent): string {
  return "body" in event ? event.body : "";
}

/**
 * Empties the bodies of the messages `deletions` name and of their edits, stored before or in the same batch: index
 * probes per deletion (the primary key for the message, `messages_target` for its edits). Only deletions stored at
 * their seq count: one skipped because another event holds that seq would otherwise empty a message that reads show
 * as not deleted. Rows already empty are not written again, so a replayed batch changes nothing.
 */
async function dropDeletedBodies(db: Executor, deletions: readonly Deletion[]): Promise<void> {
  // Two arms rather than one OR, which PostgreSQL can only answer with a scan of the whole table.
  await sql`
    WITH deletion AS (
      SELECT stored.room, stored.target
      FROM unnest(${deletions.map((d) => d.room)}::text[], ${deletions.map((d) => d.seq)}::bigint[]) AS d(room, seq)
      JOIN messages stored ON stored.room = d.room AND stored.seq = d.seq AND stored.kind = 'delete'
    ),
    named AS (
      SELECT m.room, m.seq FROM deletion d
      JOIN messages m ON m.room = d.room AND m.seq = d.target AND m.kind = 'msg'
      UNION ALL
      SELECT m.room, m.seq FROM deletion d
      JOIN messages m ON m.room = d.room AND m.target = d.target AND m.kind = 'edit'
    )
    UPDATE messages m SET body = '', attachments = NULL
    FROM named
    WHERE m.room = named.room AND m.seq = named.seq AND (m.body <> '' OR m.attachments IS NOT NULL)`.execute(db);
  await sql`
    UPDATE files f SET deleted = true
    FROM unnest(${deletions.map((d) => d.room)}::text[], ${deletions.map((d) => d.seq)}::bigint[]) AS d(room, seq)
    JOIN messages stored ON stored.room = d.room AND stored.seq = d.seq AND stored.kind = 'delete'
    WHERE f.room = stored.room AND f.seq = stored.target AND NOT f.deleted`.execute(db);
}

/**
 * Joins `gone.deleted`: true when a deletion names the message that `row` (an alias with `room`, `seq`, `kind` and
 * `target`) is or edits, null otherwise and for the other kinds. A lateral join rather than EXISTS: PostgreSQL may
 * run an EXISTS as one hashed read of every deletion there is, which grows with the table; this stays one probe of
 * the small `messages_deletions` index per row.
 */
function deletionOf(row: "e" | "m" | "p") {
  return sql.raw(`LEFT JOIN LATERAL (
      SELECT true AS deleted FROM messages d
      WHERE ${row}.kind IN ('msg', 'edit') AND d.kind = 'delete' AND d.room = ${row}.room
        AND d.target = coalesce(${row}.target, ${row}.seq)
      LIMIT 1
    ) gone ON true`);
}

/** Joins `edit.body` and `edit.ts` of the latest edit (by seq) of the message `row` is, null if it was never edited. */
function latestEditOf(row: "m" | "p") {
  return sql.raw(`LEFT JOIN LATERAL (
      SELECT e.body, e.ts FROM messages e
      WHERE e.room = ${row}.room AND e.target = ${row}.seq AND e.kind = 'edit'
      ORDER BY e.seq DESC
      LIMIT 1
    ) edit ON true`);
}

function isDeletion(event: RoomEvent): event is Deletion {
  return !isMessage(event) && event.kind === "delete";
}

/** A stored row as the event it was, or as a deletion at its own seq if its message was deleted. */
function toEvent(room: string, row: EventRow): RoomEvent {
  const { id, cid, sender: from } = row;
  const seq = toNumber(row.seq, "messages.seq");
  const ts = toNumber(row.ts, "messages.ts");
  const target = () => toNumber(required(row.target, "messages.target"), "messages.target");
  if (row.deleted) {
    return { kind: "delete", room, seq, target: row.kind === "msg" ? seq : target(), id, cid, from, ts };
  }
  switch (row.kind) {
    case "msg":
      return { room, seq, id, cid, from, body: row.body, ts, ...replyToOf(row), ...attachmentsOf(row) };
    case "edit":
      return { kind: "edit", room, seq, target: target(), id, cid, from, body: row.body, ts };
    case "delete":
      return { kind: "delete", room, seq, target: target(), id, cid, from, ts };
    case "react":
      return {
        kind: "react",
        room,
        seq,
        target: target(),
        id,
        cid,
        from,
        emoji: required(row.emoji, "messages.emoji"),
        on: required(row.reaction_on, "messages.reaction_on"),
        ts,
      };
  }
}

/** A message as it stands now; a deleted one keeps only who sent it when, what it answered, and no reactions. */
function toStoredMessage(room: string, row: HistoryRow): StoredMessage {
  const { id, cid, sender: from } = row;
  const seq = toNumber(row.seq, "messages.seq");
  const ts = toNumber(row.ts, "messages.ts");
  const replyTo = replyToOf(row);
  if (row.deleted) return { room, seq, id, cid, from, ts, ...replyTo, deleted: true, reactions: [] };
  const edit =
    row.edited_body === null || row.edited_at === null
      ? { body: row.body }
      : { body: row.edited_body, editedAt: toNumber(row.edited_at, "messages.ts") };
  return { room, seq, id, cid, from, ts, ...replyTo, ...edit, ...attachmentsOf(row), reactions: row.reactions ?? [] };
}

function toInboxRow(row: InboxQueryRow): InboxRow {
  const counts = {
    room: row.room,
    read: toNumber(row.read, "read_positions.seq"),
    watermark: toNumber(row.watermark, "room_watermarks.up_to"),
    unread: toNumber(row.unread, "count"),
  };
  const { seq, id, cid, sender, body, ts, deleted } = row;
  if (seq === null || id === null || cid === null || sender === null || body === null || ts === null) return counts;
  const { reactions: _, ...last } = toStoredMessage(row.room, {
    ...row,
    seq,
    id,
    cid,
    sender,
    body,
    ts,
    deleted: deleted === true,
    reactions: null,
  });
  return { ...counts, last };
}

/**
 * Messages `m` after `position` in search order, `(ts, room, seq)` descending; rooms compare bytewise (`"C"`), so
 * the order is the same whatever the database's collation.
 */
function afterPosition({ ts, room, seq }: SearchPosition) {
  return sql`AND (m.ts, m.room COLLATE "C", m.seq) < (${ts}::bigint, ${room}::text, ${seq}::bigint)`;
}

function toSearchHit(row: SearchRow): SearchHit {
  const { room, id, cid, sender: from, body } = row;
  const replyTo = replyToOf(row);
  const editedAt = row.edited_at === null ? {} : { editedAt: toNumber(row.edited_at, "messages.ts") };
  const seq = toNumber(row.seq, "messages.seq");
  return { room, seq, id, cid, from, body, ts: toNumber(row.ts, "messages.ts"), ...replyTo, ...editedAt };
}

/** A row's `replyTo`, spread into the message it is (nothing when it answers none). */
function replyToOf(row: { readonly reply_to: string | number | bigint | null }): { replyTo?: number } {
  return row.reply_to === null ? {} : { replyTo: toNumber(row.reply_to, "messages.reply_to") };
}

/** A row's attachments, spread into the message it is (nothing when it carries none). */
function attachmentsOf(row: { readonly attachments: string | null }): { attachments?: Attachment[] } {
  return row.attachments === null ? {} : { attachments: JSON.parse(row.attachments) as Attachment[] };
}

/** A row of `files` as the queries select it. */
interface FileRow {
  readonly id: string;
  readonly room: string;
  readonly uploader: string;
  readonly name: string;
  readonly size: string | number | bigint;
  readonly type: string;
  readonly created_at: string | number | bigint;
  readonly claimed_by: string | null;
  readonly seq: string | number | bigint | null;
  readonly deleted: boolean;
}

function toFileRecord(row: FileRow): FileRecord {
  const { id, room, uploader, name, type, deleted } = row;
  return {
    id,
    room,
    uploader,
    name,
    type,
    size: toNumber(row.size, "files.size"),
    createdAt: toNumber(row.created_at, "files.created_at"),
    deleted,
    ...(row.claimed_by === null ? {} : { claimedBy: row.claimed_by }),
    ...(row.seq === null ? {} : { seq: toNumber(row.seq, "files.seq") }),
  };
}

function required<T>(value: T | null, column: string): T {
  if (value === null) throw new ParleyError(`${column} is null in a row of a kind that has one`, { retriable: false });
  return value;
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
  return new ParleyError(`the database rejected the events (${code}): ${errorMessage(error)}`, {
    retriable: false,
    cause: error,
  });
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
