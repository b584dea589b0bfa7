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

/** The tables the queries see. Migrations do not use this type: they must keep working as it changes. */
export interface Database {
  readonly messages: MessagesTable;
}
