/**
 * The migrate command (`npm run migrate -w persister`, the chart's migration Job): applies pending migrations to
 * PARLEY_DATABASE_URL and exits. Several running at once are safe: the migrator holds a PostgreSQL advisory lock.
 * It boots like the services (one config parse, exit 1 on failure, SIGTERM closes the pool) and exits 0 once the
 * pool is closed and nothing is left to run.
 */

import { runService } from "@parley/runtime";
import { createPostgresStore } from "@parley/store";
import { loadMigrateConfig } from "./config.js";

await runService({
  name: "parley-migrate",
  loadConfig: loadMigrateConfig,
  start: async (config, logger, lifecycle) => {
    const store = createPostgresStore({ ...config.database, logger });
    lifecycle.onStop(() => store.close());
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
    logger.info("migrations applied");
  },
});
