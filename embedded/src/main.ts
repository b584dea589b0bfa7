/**
 * The whole of Parley in one process (`npm start`): the gateway with the embedded defaults (memory Bus and Log, PGlite
 * Store, dev auth, the web client when PARLEY_WEB_DIR is set) and, when the Log is the in-memory one, the persister
 * consuming it beside the gateway, its metrics on the gateway's port. The configuration is the gateway's (README).
 */
import { bootGateway } from "@parley/gateway/service";
import { createPersisterMetrics } from "@parley/persister/metrics";
import { createPersistence } from "@parley/persister/persistence";

await bootGateway({
  companion: async ({ config, log, store, bus, registry, logger }) => {
    // A Kafka log has its own persister service; only the in-memory one must be consumed in this process.
    if (config.log.kind !== "memory") return undefined;
    const { persister, watermarks } = createPersistence({
      log,
      store,
      group: "parley-persister",
      logger: logger.child({ component: "persister" }),
      metrics: createPersisterMetrics(registry, { processMetrics: false }),
      feed: bus,
      gapTimeoutMs: config.gapTimeoutMs,
    });
    await persister.start();
    return {
      close: async () => {
        await persister.close();
        await watermarks.close();
      },
    };
  },
});
