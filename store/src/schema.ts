import type { ColumnType } from "kysely";

/**
 * A bigint column: written as a number, read as whatever the driver returns for int8 (`pg` a decimal string,
 * PGlite a bigint), converted back to a number on the way out.
 */
type BigintColumn = ColumnType<string | number | bigint, number, never>;

/** Row of `messages`; see `migrations/0001-messages.ts` for the table. */
export interface MessagesTable {
  readonly room: string;
  readonly seq: BigintColumn;
  readonly id: string;
  readonly cid: string;
  /** The wire's `from` (a reserved word in SQL). */
  readonly sender: string;
  readonly body: string;
  /** Milliseconds since the epoch, as on the wire. */
  readonly ts: BigintColumn;
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

/** The tables the queries see. Migrations do not use this type: they must keep working as it changes. */
export interface Database {
  readonly messages: MessagesTable;
  readonly room_watermarks: RoomWatermarksTable;
  readonly lost_ranges: LostRangesTable;
}
