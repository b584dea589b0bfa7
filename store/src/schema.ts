import type { ColumnType } from "kysely";

/**
 * A bigint column: written as a number, read as whatever the driver returns for int8 (`pg` a decimal string,
 * PGlite a bigint), converted back to a number on the way out.
 */
type BigintColumn = ColumnType<string | number | bigint, number, never>;

/** A bigint column that is null on the rows of the kinds without it. */
type NullableBigintColumn = ColumnType<string | number | bigint | null, number | null, never>;

/** Which event a row of `messages` is: a message, or an edit, deletion or reaction of one. */
export type EventKind = "msg" | "edit" | "delete" | "react";

/**
 * Row of `messages`, one per event of a room's stream; see `migrations/0001-messages.ts` for the table and
 * `migrations/0003-events.ts` for the kinds.
 */
export interface MessagesTable {
  readonly room: string;
  readonly seq: BigintColumn;
  readonly id: string;
  readonly cid: string;
  /** The wire's `from` (a reserved word in SQL). */
  readonly sender: string;
  /** `''` for a deletion or reaction, and for a deleted message and its edits (their bodies are dropped). */
  readonly body: ColumnType<string, string, string>;
  /** Milliseconds since the epoch, as on the wire. */
  readonly ts: BigintColumn;
  readonly kind: ColumnType<EventKind, EventKind, never>;
  /** The seq of the message an edit, deletion or reaction names. */
  readonly target: NullableBigintColumn;
  /** The seq of the message a message answers. */
  readonly reply_to: NullableBigintColumn;
  readonly emoji: ColumnType<string | null, string | null, never>;
  /** A reaction's `on`. */
  readonly reaction_on: ColumnType<boolean | null, boolean | null, never>;
  /** A message's attachments as JSON text; null without any, and once deleted (`migrations/0007-files.ts`). */
  readonly attachments: ColumnType<string | null, string | null, string | null>;
}

/** Row of `room_watermarks`; see `migrations/0002-watermarks.ts`. */
export interface RoomWatermarksTable {
  readonly room: string;
  /** Updated in place as the watermark grows. */
  readonly up_to: ColumnType<string | number | bigint, number, number>;
}

/** Row of `lost_ranges`; see `migrations/0002-watermarks.ts`. */
export interface LostRangesTable {
  readonly room: string;
  readonly from_seq: BigintColumn;
  readonly to_seq: BigintColumn;
  readonly reason: string;
  readonly recorded_at: BigintColumn;
}

/** Row of `read_positions`; see `migrations/0005-read-positions.ts`. */
export interface ReadPositionsTable {
  readonly room: string;
  /** The user (a reserved word in SQL). */
  readonly reader: string;
  readonly seq: ColumnType<string | number | bigint, number, number>;
}

/** Row of `room_members`; see `migrations/0006-members.ts`. */
export interface RoomMembersTable {
  /** The user (a reserved word in SQL). */
  readonly member: string;
  readonly room: string;
}

/** Row of `files`, one per granted upload; see `migrations/0007-files.ts`. */
export interface FilesTable {
  readonly id: string;
  readonly room: string;
  readonly uploader: string;
  readonly name: string;
  readonly size: BigintColumn;
  readonly type: string;
  readonly created_at: BigintColumn;
  readonly claimed_by: ColumnType<string | null, never, string>;
  readonly seq: ColumnType<string | number | bigint | null, never, number>;
  readonly deleted: ColumnType<boolean, never, boolean>;
  readonly swept: ColumnType<boolean, never, boolean>;
}

/** The tables the queries see. Migrations do not use this type: they must keep working as it changes. */
export interface Database {
  readonly messages: MessagesTable;
  readonly room_watermarks: RoomWatermarksTable;
  readonly lost_ranges: LostRangesTable;
  readonly read_positions: ReadPositionsTable;
  readonly room_members: RoomMembersTable;
  readonly files: FilesTable;
}
