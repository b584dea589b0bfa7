/**
 * The migrate command (`npm run migrate -w persister`, the chart's migration Job): applies pending migrations to
 * PARLEY_DATABASE_URL and exits. Several running at once are safe: the migrator holds a PostgreSQL advisory lock.
 */

import { createLogger } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { loadMigrateConfig } from "./config.js";

const SERVICE = "parley-migrate";

const bootLogger = createLogger(SERVICE, "info");
try {
  const config = loadMigrateConfig(process.env, (message) => bootLogger.warn(message));
  const logger = createLogger(SERVICE, config.logLevel);
  const store = createPostgresStore({ ...config.database, logger });
  try {
    await store.migrate();
  } finally {
    await store.close();
  }
  logger.info("migrations applied");
} catch (error) {
  bootLogger.fatal({ err: error }, "migration failed");
  process.exit(1);
}
