import type { Migration, MigrationProvider } from "kysely";
import * as messages from "./0001-messages.js";
import * as watermarks from "./0002-watermarks.js";
import * as events from "./0003-events.js";
import * as search from "./0004-search.js";
import * as readPositions from "./0005-read-positions.js";
import * as members from "./0006-members.js";
import * as files from "./0007-files.js";

/**
 * Every migration, by name; Kysely applies them in name order. Listed in code rather than found on disk, so they
 * are part of the compiled output and run the same from sources, `dist/` and a container image.
 */
const MIGRATIONS: Readonly<Record<string, Migration>> = {
  "0001-messages": messages,
  "0002-watermarks": watermarks,
  "0003-events": events,
  "0004-search": search,
  "0005-read-positions": readPositions,
  "0006-members": members,
  "0007-files": files,
};

/** Kysely's source of migrations: the list above. */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...MIGRATIONS }),
};
